// Temporary buffers for kernels (per-block partial sums, the LM head's logits chunk), drawn from the
// caching allocator: a training step asks for the same sizes every step, so from the second step on
// they come back from its free lists without system calls or page faults.
//
//   Scratch partial = Scratch::of<float>(nblocks * C);  // (nblocks, C)
//   float* p = partial.as<float>();                      // returned to the cache at scope exit
#pragma once

#include <cstddef>
#include <cstdint>

namespace cornerstone::kernels {

class Scratch {
 public:
  explicit Scratch(size_t bytes);  // 0 bytes: no allocation, as<T>() is null
  ~Scratch();
  Scratch(Scratch&& o) noexcept : ptr_(o.ptr_), bytes_(o.bytes_) { o.ptr_ = nullptr, o.bytes_ = 0; }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  Scratch& operator=(Scratch&&) = delete;

  template <class T>
  static Scratch of(int64_t n) {  // room for n elements of T
    return Scratch(static_cast<size_t>(n) * sizeof(T));
  }
  template <class T>
  T* as() const {
    return static_cast<T*>(ptr_);
  }

 private:
  void* ptr_ = nullptr;
  size_t bytes_ = 0;
};

}  // namespace cornerstone::kernels
