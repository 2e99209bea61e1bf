// Threading. Cornerstone runs on OpenMP threads; the thread count is global (CLI `--threads N`,
// default: all cores) and is also handed to the GEMM library.
#pragma once

#include <cstdint>

namespace cornerstone {

int num_threads();
void set_num_threads(int n);  // n <= 0 means "all cores"

// Static partition of [0, n) into `parts` contiguous chunks; chunk i is [begin, end).
struct Range {
  int64_t begin, end;
};
inline Range split_range(int64_t n, int parts, int i) {
  const int64_t q = n / parts, r = n % parts;
  const int64_t b = i * q + (i < r ? i : r);
  return {b, b + q + (i < r ? 1 : 0)};
}

}  // namespace cornerstone
