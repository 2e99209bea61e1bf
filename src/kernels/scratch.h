// Temporary buffers for kernels (per-block partial sums, the LM head's logits chunk), drawn from the
// caching allocator: a training step asks for the same sizes every step, so from the second step on
// they come back from its free lists without system calls or page faults.
#pragma once

#include <cstddef>
#include <cstdint>

namespace cornerstone::kernels {

class Scratch {
 public:
  Scratch() = default;
  explicit Scratch(size_t bytes);
  ~Scratch();
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;

  // n elements of T (bytes rounded down to whole elements).
  template <class T>
  static Scratch of(int64_t n) {
    return Scratch(static_cast<size_t>(n) * sizeof(T));
  }
  template <class T>
  T* as() const {
    return static_cast<T*>(ptr_);
  }

  Scratch(Scratch&& o) noexcept : ptr_(o.ptr_), bytes_(o.bytes_) { o.ptr_ = nullptr, o.bytes_ = 0; }

 private:
  void* ptr_ = nullptr;
  size_t bytes_ = 0;
};

}  // namespace cornerstone::kernels
