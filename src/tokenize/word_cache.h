// Per-thread cache of encoded words for a BPE model (internal).
//
// Natural text repeats its words, so most pieces are looked up rather than merged. Each thread
// owns its caches (no locks, no sharing); a thread keeps one cache for each of the few models it
// used last, keyed by a model's unique serial number, and clears a cache when it fills up.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace cornerstone::tokenize {

class WordCache {
 public:
  WordCache();
  // Appends the cached ids of `word` to `out` and returns true, or returns false on a miss.
  bool lookup(std::string_view word, uint64_t hash, std::vector<int32_t>& out) const;
  void insert(std::string_view word, uint64_t hash, const int32_t* ids, size_t count);
  void clear();

  // The calling thread's cache for the model with serial number `owner`.
  static WordCache& for_thread(uint64_t owner);

  static constexpr size_t kMaxWordBytes = 256;  // longer pieces are rare and not cached

 private:
  struct Slot {
    uint64_t hash;
    uint32_t key_offset;
    uint32_t ids_offset;
    uint16_t key_length;
    uint16_t id_count;
    bool used;
  };
  std::vector<Slot> slots_;
  std::string keys_;
  std::vector<int32_t> ids_;
  size_t size_ = 0;
};

}  // namespace cornerstone::tokenize
