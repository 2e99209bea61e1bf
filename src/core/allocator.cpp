#include "cornerstone/core/allocator.h"

#include <sys/mman.h>

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

void* system_alloc(size_t bytes) {
  const size_t align = bytes >= kHugeThreshold ? kHugeAlign : kSmallAlign;
  void* p = std::aligned_alloc(align, bytes);
  if (!p) return nullptr;
  if (bytes >= kHugeThreshold) madvise(p, bytes, MADV_HUGEPAGE);
  return p;
}
}  // namespace

struct CachingAllocator::State {
  std::mutex mu;
  std::map<size_t, std::vector<void*>> free_lists;  // rounded size -> blocks
  Stats stats;
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
    if (it != s->free_lists.end() && !it->second.empty()) {
      void* p = it->second.back();
      it->second.pop_back();
      ++s->stats.cache_hits;
      s->stats.bytes_cached -= size;
      s->stats.bytes_in_use += size;
      if (s->stats.bytes_in_use > s->stats.peak_bytes_in_use) s->stats.peak_bytes_in_use = s->stats.bytes_in_use;
      return p;
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
  if (s->stats.bytes_in_use > s->stats.peak_bytes_in_use) s->stats.peak_bytes_in_use = s->stats.bytes_in_use;
  return p;
}

void CachingAllocator::deallocate(void* p, size_t bytes) {
  if (!p) return;
  const size_t size = round_size(bytes);
  State* s = state();
  std::lock_guard<std::mutex> lock(s->mu);
  s->free_lists[size].push_back(p);
  s->stats.bytes_in_use -= size;
  s->stats.bytes_cached += size;
}

void CachingAllocator::release_cached() {
  State* s = state();
  std::lock_guard<std::mutex> lock(s->mu);
  for (auto& [size, blocks] : s->free_lists) {
    for (void* p : blocks) std::free(p);
    s->stats.bytes_cached -= size * blocks.size();
  }
  s->free_lists.clear();
}

CachingAllocator::Stats CachingAllocator::stats() const {
  State* s = const_cast<CachingAllocator*>(this)->state();
  std::lock_guard<std::mutex> lock(s->mu);
  return s->stats;
}

void CachingAllocator::reset_peak() {
  State* s = state();
  std::lock_guard<std::mutex> lock(s->mu);
  s->stats.peak_bytes_in_use = s->stats.bytes_in_use;
}

}  // namespace cornerstone
