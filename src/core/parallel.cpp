#include "cornerstone/core/parallel.h"

#include <omp.h>

#include <thread>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CS_SPIN_PAUSE() _mm_pause()
#else
#define CS_SPIN_PAUSE() ((void)0)
#endif

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

void SpinBarrier::arrive_and_wait() {
  // The phase is read before arriving: it cannot move on until this thread has arrived.
  const uint32_t phase = phase_.load(std::memory_order_relaxed);
  if (arrived_.fetch_add(1, std::memory_order_acq_rel) + 1 == parties_) {
    arrived_.store(0, std::memory_order_relaxed);      // ordered before the release below
    phase_.store(phase + 1, std::memory_order_release);  // publishes everyone's writes
    return;
  }
  // ~2-10 us of pauses, about one op of a decode step, then yield: on a busy machine the thread
  // that holds the others up may be waiting for this core.
  constexpr int kSpins = 2048;
  for (int spins = 0; phase_.load(std::memory_order_acquire) == phase; ++spins) {
    if (spins < kSpins)
      CS_SPIN_PAUSE();
    else
      std::this_thread::yield();
  }
}

Team Team::of_region(SpinBarrier& barrier) {
  const int size = omp_get_num_threads();
  if (size != barrier.parties()) {  // the runtime gave fewer threads than asked for: every thread sees it
#pragma omp barrier
    if (omp_get_thread_num() == 0) barrier.reset(size);
#pragma omp barrier
  }
  return Team{omp_get_thread_num(), size, &barrier};
}

}  // namespace cornerstone
