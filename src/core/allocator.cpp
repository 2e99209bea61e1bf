#include "cornerstone/core/allocator.h"

#include <sys/mman.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <mutex>
#include <new>
#include <vector>

namespace cornerstone {

namespace {
constexpr size_t kSmallAlign = 64;
constexpr size_t kHugeAlign = size_t{2} << 20;
constexpr size_t kHugeThreshold = size_t{4} << 20;
// The cache may hold as much as the most ever in use at once (a step's working set: a training
// loop of fixed shapes never exceeds it), and at least this much.
constexpr size_t kMinCacheBytes = size_t{256} << 20;

void* system_alloc(size_t bytes) {
  const size_t align = bytes >= kHugeThreshold ? kHugeAlign : kSmallAlign;
  void* p = std::aligned_alloc(align, bytes);
  if (!p) return nullptr;
  if (bytes >= kHugeThreshold) madvise(p, bytes, MADV_HUGEPAGE);
  return p;
}
}  // namespace

struct CachingAllocator::State {
  struct FreeList {
    std::vector<void*> blocks;
    uint64_t last_request = 0;  // when this size was last asked for (the request counter)
  };
  std::mutex mu;
  std::map<size_t, FreeList> free_lists;  // rounded size -> blocks
  Stats stats;
  size_t high_water = 0;  // the most bytes ever in use at once (reset_peak does not touch it)

  void note_in_use() {
    if (stats.bytes_in_use > stats.peak_bytes_in_use) stats.peak_bytes_in_use = stats.bytes_in_use;
    if (stats.bytes_in_use > high_water) high_water = stats.bytes_in_use;
  }
  // Shapes that change from step to step (sampled completions, evaluation batches) would
  // otherwise leave a free list for every size ever seen: past the limit, the blocks of the sizes
  // asked for least recently go back to the system.
  size_t limit() const { return std::max(kMinCacheBytes, high_water); }
  void trim(size_t keep_size) {
    const size_t limit = this->limit();
    while (stats.bytes_cached > limit) {
      auto victim = free_lists.end();
      for (auto it = free_lists.begin(); it != free_lists.end(); ++it)
        if (!it->second.blocks.empty() && it->first != keep_size &&
            (victim == free_lists.end() || it->second.last_request < victim->second.last_request))
          victim = it;
      if (victim == free_lists.end()) victim = free_lists.find(keep_size);  // only the block just returned is left
      if (victim == free_lists.end() || victim->second.blocks.empty()) return;
      std::free(victim->second.blocks.back());
      victim->second.blocks.pop_back();
      stats.bytes_cached -= victim->first;
      ++stats.released;
      if (victim->second.blocks.empty()) free_lists.erase(victim);
    }
  }
};

CachingAllocator& CachingAllocator::global() {
  static CachingAllocator* a = new CachingAllocator();  // never destroyed: tensors may outlive statics
  return *a;
}

CachingAllocator::State* CachingAllocator::state() {
  static State* s = new State();
  return s;
}

CachingAllocator::~CachingAllocator() = default;

size_t CachingAllocator::round_size(size_t bytes) {
  if (bytes == 0) bytes = 1;
  if (bytes < kHugeThreshold) return (bytes + kSmallAlign - 1) / kSmallAlign * kSmallAlign;
  return (bytes + kHugeAlign - 1) / kHugeAlign * kHugeAlign;
}

void* CachingAllocator::allocate(size_t bytes) {
  const size_t size = round_size(bytes);
  State* s = state();
  {
    std::lock_guard<std::mutex> lock(s->mu);
    ++s->stats.requests;
    auto it = s->free_lists.find(size);
    if (it != s->free_lists.end()) {
      it->second.last_request = s->stats.requests;
      if (!it->second.blocks.empty()) {
        void* p = it->second.blocks.back();
        it->second.blocks.pop_back();
        ++s->stats.cache_hits;
        s->stats.bytes_cached -= size;
        s->stats.bytes_in_use += size;
        s->note_in_use();
        return p;
      }
    }
  }
  void* p = system_alloc(size);
  if (!p) {
    release_cached();  // memory held for reuse may be what stands in the way
    p = system_alloc(size);
    if (!p) throw std::bad_alloc();
  }
  std::lock_guard<std::mutex> lock(s->mu);
  s->stats.bytes_in_use += size;
  s->note_in_use();
  return p;
}

void CachingAllocator::deallocate(void* p, size_t bytes) {
  if (!p) return;
  const size_t size = round_size(bytes);
  State* s = state();
  std::lock_guard<std::mutex> lock(s->mu);
  State::FreeList& list = s->free_lists[size];
  list.blocks.push_back(p);
  if (list.last_request == 0) list.last_request = s->stats.requests;
  s->stats.bytes_in_use -= size;
  s->stats.bytes_cached += size;
  s->trim(size);
}

void CachingAllocator::release_cached() {
  State* s = state();
  std::lock_guard<std::mutex> lock(s->mu);
  for (auto& [size, list] : s->free_lists) {
    for (void* p : list.blocks) std::free(p);
    s->stats.bytes_cached -= size * list.blocks.size();
    s->stats.released += list.blocks.size();
  }
  s->free_lists.clear();
}

CachingAllocator::Stats CachingAllocator::stats() const {
  State* s = const_cast<CachingAllocator*>(this)->state();
  std::lock_guard<std::mutex> lock(s->mu);
  Stats out = s->stats;
  out.cache_limit = s->limit();
  return out;
}

void CachingAllocator::reset_peak() {
  State* s = state();
  std::lock_guard<std::mutex> lock(s->mu);
  s->stats.peak_bytes_in_use = s->stats.bytes_in_use;
}

}  // namespace cornerstone
