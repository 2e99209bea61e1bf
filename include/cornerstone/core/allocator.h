// Host memory for tensors, with reuse.
//
// A training step allocates the same activation and gradient buffers, in the same sizes, every
// step. The caching allocator keeps freed blocks in per-size free lists and hands them back on the
// next request of that size, so from the second step on a step performs no system allocation and
// touches no fresh pages: this is the activation arena. Blocks are 64-byte aligned; large blocks
// are 2 MiB aligned and advised as transparent huge pages (fewer TLB misses in GEMMs).
//
// The cache holds at most as many bytes as were ever in use at once (at least 256 MiB): work whose
// shapes change every step (sampled completions in grpo / ppo, evaluation) would otherwise keep a
// free list for every size it ever saw (a ppo run grew past 8 GB that way). Past the limit, the
// blocks of the sizes asked for least recently are returned to the system.
#pragma once

#include <cstddef>
#include <cstdint>

namespace cornerstone {

class CachingAllocator {
 public:
  struct Stats {
    size_t bytes_in_use = 0;      // handed out and not yet returned
    size_t bytes_cached = 0;      // returned and kept for reuse
    size_t peak_bytes_in_use = 0;
    uint64_t requests = 0;        // allocate() calls
    uint64_t cache_hits = 0;      // requests served from a free list
    uint64_t released = 0;        // cached blocks given back to the system (over the limit, release_cached)
    size_t cache_limit = 0;       // the most bytes the cache may hold: max(256 MiB, the most ever in use)
  };

  static CachingAllocator& global();

  void* allocate(size_t bytes);
  void deallocate(void* p, size_t bytes);
  // Returns every cached block to the system (e.g. after evaluation at another batch shape).
  void release_cached();
  Stats stats() const;
  void reset_peak();

  // Rounded size actually reserved for a request (exposed for tests).
  static size_t round_size(size_t bytes);

 private:
  CachingAllocator() = default;
  ~CachingAllocator();
  struct State;
  State* state();
};

}  // namespace cornerstone
