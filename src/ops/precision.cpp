#include "cornerstone/ops/precision.h"

namespace cornerstone::ops {

namespace {
thread_local Precision g_precision = Precision::F32;
}

Precision matmul_precision() { return g_precision; }
void set_matmul_precision(Precision p) { g_precision = p; }

}  // namespace cornerstone::ops
