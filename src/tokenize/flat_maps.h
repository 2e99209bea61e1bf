// Open-addressing hash maps for the tokenizer's hot lookups (internal): token string -> id for
// vocabularies of 100k+ entries, and (left id, right id) -> (rank, merged id) for BPE merges.
// Built once at load time, then read concurrently without locks.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace cornerstone::tokenize {

// A fast 64-bit hash of a byte string (multiply-xorshift over 8-byte words).
uint64_t hash_bytes(std::string_view s);

// token -> id. Keys are copied into the map's own storage.
class TokenIdMap {
 public:
  void reserve(size_t n);
  // Returns false (and changes nothing) when the token is already present.
  bool insert(std::string_view token, int32_t id);
  // -1 when absent.
  int32_t find(std::string_view token) const;
  size_t size() const { return size_; }

 private:
  struct Slot {
    uint64_t hash = 0;
    uint32_t offset = 0, length = 0;
    int32_t id = -1;  // -1: empty
  };
  void grow();
  std::vector<Slot> slots_;
  std::string keys_;
  size_t size_ = 0;
};

// (left, right) id pair -> merge rank and merged id.
class MergeMap {
 public:
  struct Merge {
    int32_t rank;
    int32_t id;
  };
  void reserve(size_t n);
  // A pair listed twice keeps its last rank, as in the reference.
  void insert(int32_t left, int32_t right, Merge merge);
  // nullptr when the pair does not merge.
  const Merge* find(int32_t left, int32_t right) const {
    if (slots_.empty()) return nullptr;
    const uint64_t key = pack(left, right);
    for (size_t i = mix(key) & mask_;; i = (i + 1) & mask_) {
      const Slot& s = slots_[i];
      if (s.key == key) return &s.merge;
      if (s.key == kEmpty) return nullptr;
    }
  }
  size_t size() const { return size_; }

 private:
  static constexpr uint64_t kEmpty = ~uint64_t{0};
  static uint64_t pack(int32_t a, int32_t b) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
  }
  static size_t mix(uint64_t k) {
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    return static_cast<size_t>(k);
  }
  struct Slot {
    uint64_t key = kEmpty;
    Merge merge{0, 0};
  };
  void grow();
  std::vector<Slot> slots_;
  size_t mask_ = 0, size_ = 0;
};

}  // namespace cornerstone::tokenize
