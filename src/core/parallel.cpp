#include "cornerstone/core/parallel.h"

#include <omp.h>

#include <thread>

namespace cornerstone {

namespace {
int& configured() {
  static int n = [] {
    // OpenMP already honours OMP_NUM_THREADS; otherwise use every core.
    return omp_get_max_threads();
  }();
  return n;
}
}  // namespace

int num_threads() { return configured(); }

void set_num_threads(int n) {
  if (n <= 0) n = static_cast<int>(std::thread::hardware_concurrency());
  if (n <= 0) n = 1;
  configured() = n;
  omp_set_num_threads(n);
}

}  // namespace cornerstone
