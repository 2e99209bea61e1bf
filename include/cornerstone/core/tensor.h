// Tensor: an n-dimensional (up to 4-D) view onto shared storage, with autograd state.
//
// A Tensor is a cheap handle (one shared_ptr): copies alias the same data. reshape / transpose /
// slice / select return views that share storage without copying where the strides allow it;
// `contiguous()` copies only when needed. Storage comes from the caching allocator (core/allocator.h)
// or wraps external memory (a memory-mapped checkpoint).
//
//   Tensor x = Tensor::randn({8, 256, 384}, rng);          // (B, T, C)
//   Tensor h = x.reshape({8 * 256, 384});                  // view, no copy
//   Tensor w = Tensor::zeros({384, 384}).requires_grad_();  // a leaf that collects .grad()
//
// Autograd: a tensor produced by a differentiable op (ops/) from inputs that require grad records
// the op's backward (autograd/graph.h). `loss.backward()` walks those records once, newest first,
// accumulating into the `.grad()` of leaves. Gradients accumulate across backward() calls until
// `zero_grad()` (gradient accumulation over micro-batches).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "cornerstone/core/dtype.h"
#include "cornerstone/core/shape.h"

namespace cornerstone {

class Rng;
namespace autograd {
struct AutogradMeta;
}

enum class Device : uint8_t { CPU };

// Owns (or borrows) a block of bytes. Immutable size; data may be mutated through tensors.
class Storage {
 public:
  // Fresh memory from the caching allocator (uninitialised).
  static std::shared_ptr<Storage> allocate(size_t bytes, Device device = Device::CPU);
  // External memory kept alive by `keep_alive` (e.g. an mmap); freed when the last user goes.
  static std::shared_ptr<Storage> wrap(void* data, size_t bytes, std::shared_ptr<void> keep_alive);

  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  ~Storage();

  void* data() const { return data_; }
  size_t bytes() const { return bytes_; }
  Device device() const { return device_; }

 private:
  Storage() = default;
  void* data_ = nullptr;
  size_t bytes_ = 0;
  Device device_ = Device::CPU;
  bool from_allocator_ = false;
  std::shared_ptr<void> keep_alive_;
};

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  size_t byte_offset = 0;
  Shape shape;
  Strides strides{};
  DType dtype = DType::F32;
  std::shared_ptr<autograd::AutogradMeta> autograd;  // null: no autograd state
};

class Tensor {
 public:
  Tensor() = default;  // undefined: holds nothing
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  // ---- construction --------------------------------------------------------------------------
  static Tensor empty(const Shape& shape, DType dtype = DType::F32);
  static Tensor zeros(const Shape& shape, DType dtype = DType::F32);
  static Tensor full(const Shape& shape, float value, DType dtype = DType::F32);
  static Tensor from_data(const Shape& shape, std::span<const float> values);
  static Tensor from_data(const Shape& shape, std::span<const int32_t> values);
  // N(0, std^2) / U(lo, hi) in f32, from a seeded generator (deterministic across thread counts).
  static Tensor randn(const Shape& shape, Rng& rng, float std = 1.0f);
  static Tensor uniform(const Shape& shape, Rng& rng, float lo, float hi);
  static Tensor from_storage(std::shared_ptr<Storage> storage, size_t byte_offset, const Shape& shape,
                             DType dtype);

  // ---- inspection ----------------------------------------------------------------------------
  bool defined() const { return impl_ != nullptr; }
  explicit operator bool() const { return defined(); }
  const Shape& shape() const { return impl_->shape; }
  int ndim() const { return impl_->shape.ndim(); }
  int64_t size(int d) const { return impl_->shape.dim(d); }
  int64_t numel() const { return impl_->shape.numel(); }
  DType dtype() const { return impl_->dtype; }
  Device device() const { return impl_->storage->device(); }
  const Strides& strides() const { return impl_->strides; }
  int64_t stride(int d) const;
  size_t nbytes() const { return dtype_bytes(dtype(), numel()); }
  bool is_contiguous() const;
  // True when both tensors view the same bytes of the same storage.
  bool same_data(const Tensor& other) const;
  // "Tensor(f32, (2, 3))"
  std::string str() const;

  // Typed pointer to the first element; throws DTypeError when T does not match dtype().
  template <typename T>
  T* data() const;
  void* raw_data() const { return static_cast<char*>(impl_->storage->data()) + impl_->byte_offset; }
  const std::shared_ptr<Storage>& storage() const { return impl_->storage; }
  size_t byte_offset() const { return impl_->byte_offset; }

  // Element access for tests and small tensors (contiguous or not). f32 / bf16 / i32 read as float.
  float item() const;  // one element
  float at(std::initializer_list<int64_t> index) const;
  std::vector<float> to_vector() const;  // row-major order
  std::vector<int32_t> to_int_vector() const;

  // ---- views (no copy) and copies -------------------------------------------------------------
  // Reshape: a view when the strides allow it, else a copy. One dimension may be -1.
  // Under autograd these are differentiable (ops/view.h records them).
  Tensor view(const Shape& shape) const;  // view only; throws ShapeError when not viewable
  Tensor transpose(int d0, int d1) const;
  Tensor slice(int dim, int64_t start, int64_t end) const;  // [start, end) along dim
  Tensor select(int dim, int64_t index) const;               // drops dim
  Tensor contiguous() const;                                 // self if already contiguous
  Tensor clone() const;                                      // always a fresh contiguous copy
  Tensor to(DType dtype) const;                              // converting copy (self if same dtype)
  void copy_from(const Tensor& src);                          // same shape, any layout; converts dtype
  void fill(float value);
  void zero();

  // ---- autograd --------------------------------------------------------------------------------
  bool requires_grad() const;
  // Marks a leaf as a parameter/input whose gradient is wanted. Returns *this.
  Tensor& requires_grad_(bool on = true);
  // Accumulated gradient (undefined until a backward pass reaches this leaf).
  Tensor grad() const;
  void set_grad(const Tensor& g);
  void zero_grad();  // drops the accumulated gradient
  // Back-propagates from this scalar (or with an explicit seed of the same shape).
  void backward(const Tensor& seed = Tensor()) const;
  // The same data, cut off from the graph (no grad_fn, requires_grad false).
  Tensor detach() const;
  const std::shared_ptr<autograd::AutogradMeta>& autograd_meta() const { return impl_->autograd; }
  std::shared_ptr<autograd::AutogradMeta>& autograd_meta_mut() { return impl_->autograd; }

  const std::shared_ptr<TensorImpl>& impl() const { return impl_; }

 private:
  std::shared_ptr<TensorImpl> impl_;
};

// Throws ShapeError "<op>: expected <what> ..., got <shape>" when the tensor is not as required.
void check_ndim(const Tensor& t, int ndim, const char* op, const char* arg);
void check_dtype(const Tensor& t, DType dtype, const char* op, const char* arg);
void check_same_shape(const Tensor& a, const Tensor& b, const char* op);
void check_contiguous(const Tensor& t, const char* op, const char* arg);
void check_defined(const Tensor& t, const char* op, const char* arg);

}  // namespace cornerstone
