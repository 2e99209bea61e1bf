// Threading. Cornerstone runs on OpenMP threads; the thread count is global (CLI `--threads N`,
// default: all cores) and is also handed to the GEMM library.
#pragma once

#include <atomic>
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

// A barrier for the threads of one parallel region that share a pass op by op (the decoder
// runner's forward, packed matmuls inside it). Waiters spin, then yield; they never sleep in the
// kernel. OpenMP's own barrier sleeps on a futex after a short spin whenever the process holds more
// OpenMP threads than cores, which it does as soon as a second thread has opened a region (the
// server's scheduler beside the thread that loaded the model): each wake-up then costs tens of
// microseconds, and a decode step meets at ~160 barriers.
class SpinBarrier {
 public:
  explicit SpinBarrier(int parties) : parties_(parties) {}
  SpinBarrier(const SpinBarrier&) = delete;
  SpinBarrier& operator=(const SpinBarrier&) = delete;
  void arrive_and_wait();
  int parties() const { return parties_; }
  void reset(int parties) { parties_ = parties, arrived_.store(0, std::memory_order_relaxed); }  // while nobody waits

 private:
  alignas(64) std::atomic<int> arrived_{0};
  alignas(64) std::atomic<uint32_t> phase_{0};
  int parties_;
};

// This thread's place in a team: its id, the team's size, and the barrier the team meets at.
// A team of one (or no barrier) never waits.
struct Team {
  int id = 0, size = 1;
  SpinBarrier* barrier = nullptr;
  Range share(int64_t n) const { return split_range(n, size, id); }
  void sync() const {
    if (size > 1) barrier->arrive_and_wait();
  }
  // The calling thread's place in the current OpenMP region, whose threads all share `barrier`
  // (made for the threads the region asked for; reset if it got fewer). Outside a region: a team
  // of one.
  static Team of_region(SpinBarrier& barrier);
};

}  // namespace cornerstone
