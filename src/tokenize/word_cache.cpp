#include "tokenize/word_cache.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <memory>

namespace cornerstone::tokenize {

namespace {
constexpr size_t kSlots = size_t{1} << 17;     // power of two
constexpr size_t kMaxEntries = kSlots / 2;     // load factor <= 0.5
constexpr size_t kMaxKeyBytes = size_t{8} << 20;
}  // namespace

WordCache::WordCache() : slots_(kSlots, Slot{0, 0, 0, 0, 0, false}) {}

void WordCache::clear() {
  std::fill(slots_.begin(), slots_.end(), Slot{0, 0, 0, 0, 0, false});
  keys_.clear();
  ids_.clear();
  size_ = 0;
}

bool WordCache::lookup(std::string_view word, uint64_t hash, std::vector<int32_t>& out) const {
  for (size_t i = hash & (kSlots - 1);; i = (i + 1) & (kSlots - 1)) {
    const Slot& s = slots_[i];
    if (!s.used) return false;
    if (s.hash == hash && s.key_length == word.size() &&
        std::memcmp(keys_.data() + s.key_offset, word.data(), word.size()) == 0) {
      out.insert(out.end(), ids_.begin() + s.ids_offset, ids_.begin() + s.ids_offset + s.id_count);
      return true;
    }
  }
}

void WordCache::insert(std::string_view word, uint64_t hash, const int32_t* ids, size_t count) {
  if (word.size() > kMaxWordBytes || count > 0xFFFF) return;
  if (size_ >= kMaxEntries || keys_.size() + word.size() > kMaxKeyBytes) clear();
  size_t i = hash & (kSlots - 1);
  while (slots_[i].used) {
    const Slot& s = slots_[i];
    if (s.hash == hash && s.key_length == word.size() &&
        std::memcmp(keys_.data() + s.key_offset, word.data(), word.size()) == 0)
      return;
    i = (i + 1) & (kSlots - 1);
  }
  slots_[i] = Slot{hash, static_cast<uint32_t>(keys_.size()), static_cast<uint32_t>(ids_.size()),
                   static_cast<uint16_t>(word.size()), static_cast<uint16_t>(count), true};
  keys_.append(word);
  ids_.insert(ids_.end(), ids, ids + count);
  ++size_;
}

WordCache& WordCache::for_thread(uint64_t owner) {
  // A handful of (owner, cache) entries per thread, most recently used first.
  struct Entry {
    uint64_t owner = 0;
    std::unique_ptr<WordCache> cache;
  };
  thread_local std::array<Entry, 4> entries;
  for (size_t k = 0; k < entries.size(); ++k) {
    if (entries[k].cache && entries[k].owner == owner) {
      if (k != 0) std::swap(entries[0], entries[k]);
      return *entries[0].cache;
    }
  }
  // Miss: reuse the least recently used entry.
  Entry& victim = entries.back();
  if (victim.cache) victim.cache->clear();
  else victim.cache = std::make_unique<WordCache>();
  victim.owner = owner;
  std::rotate(entries.begin(), entries.end() - 1, entries.end());
  return *entries[0].cache;
}

}  // namespace cornerstone::tokenize
