// Tensor construction, inspection, element access and layout-preserving copies. The differentiable
// view and copy methods (view, transpose, slice, select, contiguous, clone, to) live in
// src/ops/view.cpp, the autograd methods in src/autograd/.
#include "cornerstone/core/tensor.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "cornerstone/core/allocator.h"
#include "cornerstone/core/error.h"
#include "cornerstone/core/rng.h"

namespace cornerstone {

// ---- Storage ---------------------------------------------------------------------------------------

std::shared_ptr<Storage> Storage::allocate(size_t bytes, Device device) {
  std::shared_ptr<Storage> s(new Storage());
  s->data_ = CachingAllocator::global().allocate(bytes);
  s->bytes_ = bytes;
  s->device_ = device;
  s->from_allocator_ = true;
  return s;
}

std::shared_ptr<Storage> Storage::wrap(void* data, size_t bytes, std::shared_ptr<void> keep_alive) {
  std::shared_ptr<Storage> s(new Storage());
  s->data_ = data;
  s->bytes_ = bytes;
  s->keep_alive_ = std::move(keep_alive);
  return s;
}

Storage::~Storage() {
  if (from_allocator_) CachingAllocator::global().deallocate(data_, bytes_);
}

// ---- construction ------------------------------------------------------------------------------------

Tensor Tensor::from_storage(std::shared_ptr<Storage> storage, size_t byte_offset, const Shape& shape, DType dtype) {
  const size_t need = dtype_bytes(dtype, shape.numel());
  if (byte_offset > storage->bytes() || need > storage->bytes() - byte_offset)  // no wrap-around
    throw ShapeError("tensor: " + shape.str() + " " + std::string(dtype_name(dtype)) + " needs " + std::to_string(need) +
                     " bytes at offset " + std::to_string(byte_offset) + ", storage holds " +
                     std::to_string(storage->bytes()));
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = std::move(storage);
  impl->byte_offset = byte_offset;
  impl->shape = shape;
  impl->strides = contiguous_strides(shape);
  impl->dtype = dtype;
  return Tensor(std::move(impl));
}

Tensor Tensor::empty(const Shape& shape, DType dtype) {
  return from_storage(Storage::allocate(dtype_bytes(dtype, shape.numel())), 0, shape, dtype);
}

Tensor Tensor::zeros(const Shape& shape, DType dtype) {
  Tensor t = empty(shape, dtype);
  std::memset(t.raw_data(), 0, t.nbytes());
  return t;
}

Tensor Tensor::full(const Shape& shape, float value, DType dtype) {
  Tensor t = empty(shape, dtype);
  t.fill(value);
  return t;
}

Tensor Tensor::from_data(const Shape& shape, std::span<const float> values) {
  if (static_cast<int64_t>(values.size()) != shape.numel())
    throw ShapeError("from_data: " + std::to_string(values.size()) + " values for shape " + shape.str());
  Tensor t = empty(shape, DType::F32);
  std::memcpy(t.raw_data(), values.data(), values.size() * sizeof(float));
  return t;
}

Tensor Tensor::from_data(const Shape& shape, std::span<const int32_t> values) {
  if (static_cast<int64_t>(values.size()) != shape.numel())
    throw ShapeError("from_data: " + std::to_string(values.size()) + " values for shape " + shape.str());
  Tensor t = empty(shape, DType::I32);
  std::memcpy(t.raw_data(), values.data(), values.size() * sizeof(int32_t));
  return t;
}

Tensor Tensor::randn(const Shape& shape, Rng& rng, float std) {
  Tensor t = empty(shape, DType::F32);
  float* p = t.data<float>();
  const int64_t n = t.numel();
  const uint64_t first = rng.reserve(static_cast<uint64_t>((n + 1) / 2));
  // Each counter block yields two normals (Box-Muller on two pairs of words).
#pragma omp parallel for schedule(static) if (n > (1 << 16))
  for (int64_t i = 0; i < (n + 1) / 2; ++i) {
    const auto r = philox4x32(rng.seed(), first + static_cast<uint64_t>(i));
    const double u1 = (static_cast<double>(r[0] >> 8) + 1.0) / 16777216.0;
    const double u2 = static_cast<double>(r[1] >> 8) / 16777216.0;
    const double rad = std::sqrt(-2.0 * std::log(u1));
    p[2 * i] = static_cast<float>(rad * std::cos(6.283185307179586 * u2)) * std;
    if (2 * i + 1 < n) p[2 * i + 1] = static_cast<float>(rad * std::sin(6.283185307179586 * u2)) * std;
  }
  return t;
}

Tensor Tensor::uniform(const Shape& shape, Rng& rng, float lo, float hi) {
  Tensor t = empty(shape, DType::F32);
  float* p = t.data<float>();
  const int64_t n = t.numel();
  const uint64_t first = rng.reserve(static_cast<uint64_t>((n + 3) / 4));
#pragma omp parallel for schedule(static) if (n > (1 << 16))
  for (int64_t i = 0; i < (n + 3) / 4; ++i) {
    const auto r = philox4x32(rng.seed(), first + static_cast<uint64_t>(i));
    for (int64_t j = 0; j < 4 && 4 * i + j < n; ++j) p[4 * i + j] = lo + (hi - lo) * uniform_from_bits(r[static_cast<size_t>(j)]);
  }
  return t;
}

// ---- inspection -----------------------------------------------------------------------------------

int64_t Tensor::stride(int d) const { return impl_->strides[static_cast<size_t>(normalize_dim(d, ndim(), "stride"))]; }

bool Tensor::is_contiguous() const {
  int64_t expect = 1;
  for (int i = ndim() - 1; i >= 0; --i) {
    if (impl_->shape[i] != 1 && impl_->strides[static_cast<size_t>(i)] != expect) return false;
    expect *= impl_->shape[i];
  }
  return true;
}

bool Tensor::same_data(const Tensor& other) const {
  return defined() && other.defined() && impl_->storage == other.impl_->storage &&
         impl_->byte_offset == other.impl_->byte_offset && impl_->shape == other.impl_->shape &&
         impl_->strides == other.impl_->strides;
}

std::string Tensor::str() const {
  if (!defined()) return "Tensor(undefined)";
  return "Tensor(" + std::string(dtype_name(dtype())) + ", " + shape().str() + ")";
}

template <typename T>
static constexpr DType dtype_of();
template <>
constexpr DType dtype_of<float>() { return DType::F32; }
template <>
constexpr DType dtype_of<bf16>() { return DType::BF16; }
template <>
constexpr DType dtype_of<f16>() { return DType::F16; }
template <>
constexpr DType dtype_of<int32_t>() { return DType::I32; }
template <>
constexpr DType dtype_of<uint8_t>() { return DType::U8; }

template <typename T>
T* Tensor::data() const {
  constexpr DType want = dtype_of<std::remove_const_t<T>>();
  if (!defined()) throw ValueError("data<" + std::string(dtype_name(want)) + ">: tensor is undefined");
  if (dtype() != want)
    throw DTypeError("data<" + std::string(dtype_name(want)) + ">: tensor holds " + std::string(dtype_name(dtype())));
  return static_cast<T*>(raw_data());
}
template float* Tensor::data<float>() const;
template const float* Tensor::data<const float>() const;
template bf16* Tensor::data<bf16>() const;
template const bf16* Tensor::data<const bf16>() const;
template f16* Tensor::data<f16>() const;
template int32_t* Tensor::data<int32_t>() const;
template const int32_t* Tensor::data<const int32_t>() const;
template uint8_t* Tensor::data<uint8_t>() const;
template const uint8_t* Tensor::data<const uint8_t>() const;

// ---- element access ---------------------------------------------------------------------------------

namespace {

float read_as_float(const char* p, DType t) {
  switch (t) {
    case DType::F32: { float v; std::memcpy(&v, p, 4); return v; }
    case DType::BF16: { bf16 v; std::memcpy(&v, p, 2); return bf16_to_f32(v); }
    case DType::F16: { f16 v; std::memcpy(&v, p, 2); return f16_to_f32(v); }
    case DType::I32: { int32_t v; std::memcpy(&v, p, 4); return static_cast<float>(v); }
    case DType::U8: return static_cast<float>(*reinterpret_cast<const uint8_t*>(p));
    default: throw DTypeError("element access: not supported for block dtype " + std::string(dtype_name(t)));
  }
}

void write_from_float(char* p, DType t, float v) {
  switch (t) {
    case DType::F32: std::memcpy(p, &v, 4); return;
    case DType::BF16: { bf16 h = f32_to_bf16(v); std::memcpy(p, &h, 2); return; }
    case DType::F16: { f16 h = f32_to_f16(v); std::memcpy(p, &h, 2); return; }
    case DType::I32: { int32_t i = static_cast<int32_t>(v); std::memcpy(p, &i, 4); return; }
    case DType::U8: *reinterpret_cast<uint8_t*>(p) = static_cast<uint8_t>(v); return;
    default: throw DTypeError("element access: not supported for block dtype " + std::string(dtype_name(t)));
  }
}

// Calls f(linear_index, element_offset) for every element in row-major order.
template <typename F>
void for_each_offset(const Tensor& t, F f) {
  const Shape& s = t.shape();
  int64_t d[kMaxDims] = {1, 1, 1, 1}, st[kMaxDims] = {0, 0, 0, 0};
  const int pad = kMaxDims - s.ndim();
  for (int i = 0; i < s.ndim(); ++i) d[pad + i] = s[i], st[pad + i] = t.strides()[static_cast<size_t>(i)];
  int64_t lin = 0;
  for (int64_t a = 0; a < d[0]; ++a)
    for (int64_t b = 0; b < d[1]; ++b)
      for (int64_t c = 0; c < d[2]; ++c)
        for (int64_t e = 0; e < d[3]; ++e) f(lin++, a * st[0] + b * st[1] + c * st[2] + e * st[3]);
}

}  // namespace

float Tensor::item() const {
  if (numel() != 1) throw ShapeError("item: tensor has " + std::to_string(numel()) + " elements, expected 1");
  return read_as_float(static_cast<const char*>(raw_data()), dtype());
}

float Tensor::at(std::initializer_list<int64_t> index) const {
  if (static_cast<int>(index.size()) != ndim())
    throw ShapeError("at: " + std::to_string(index.size()) + " indices for a " + std::to_string(ndim()) + "-d tensor");
  int64_t off = 0;
  int i = 0;
  for (int64_t x : index) {
    if (x < 0 || x >= shape()[i])
      throw ShapeError("at: index " + std::to_string(x) + " out of range for dimension " + std::to_string(i) +
                       " of " + shape().str());
    off += x * strides()[static_cast<size_t>(i++)];
  }
  const size_t es = dtype_info(dtype()).block_bytes;
  return read_as_float(static_cast<const char*>(raw_data()) + off * static_cast<int64_t>(es), dtype());
}

std::vector<float> Tensor::to_vector() const {
  std::vector<float> out(static_cast<size_t>(numel()));
  const char* base = static_cast<const char*>(raw_data());
  const int64_t es = static_cast<int64_t>(dtype_info(dtype()).block_bytes);
  if (dtype() == DType::F32 && is_contiguous()) {
    std::memcpy(out.data(), base, out.size() * sizeof(float));
    return out;
  }
  for_each_offset(*this, [&](int64_t i, int64_t off) { out[static_cast<size_t>(i)] = read_as_float(base + off * es, dtype()); });
  return out;
}

std::vector<int32_t> Tensor::to_int_vector() const {
  check_dtype(*this, DType::I32, "to_int_vector", "tensor");
  std::vector<int32_t> out(static_cast<size_t>(numel()));
  const int32_t* base = static_cast<const int32_t*>(raw_data());
  for_each_offset(*this, [&](int64_t i, int64_t off) { out[static_cast<size_t>(i)] = base[off]; });
  return out;
}

// ---- in-place writes --------------------------------------------------------------------------------

void Tensor::copy_from(const Tensor& src) {
  if (src.shape() != shape())
    throw ShapeError("copy_from: source " + src.shape().str() + " vs destination " + shape().str());
  if (dtype_info(dtype()).block_size != 1 || dtype_info(src.dtype()).block_size != 1) {
    if (dtype() != src.dtype() || !is_contiguous() || !src.is_contiguous())
      throw DTypeError("copy_from: block dtypes copy only between contiguous tensors of the same dtype");
    std::memcpy(raw_data(), src.raw_data(), nbytes());
    return;
  }
  if (is_contiguous() && src.is_contiguous()) {
    if (dtype() == src.dtype()) {
      std::memcpy(raw_data(), src.raw_data(), nbytes());
      return;
    }
    // f32 <-> bf16, the mixed-precision conversions (gradients, LM-head operands): memory-bound
    // loops over the threads; core converts its own dtypes (kernels sit above it).
    const int64_t n = numel();
    if (src.dtype() == DType::F32 && dtype() == DType::BF16) {
      const float* x = src.data<float>();
      bf16* y = data<bf16>();
#pragma omp parallel for schedule(static) if (n > (1 << 16))
      for (int64_t i = 0; i < n; ++i) y[i] = f32_to_bf16(x[i]);
      return;
    }
    if (src.dtype() == DType::BF16 && dtype() == DType::F32) {
      const bf16* x = src.data<bf16>();
      float* y = data<float>();
#pragma omp parallel for schedule(static) if (n > (1 << 16))
      for (int64_t i = 0; i < n; ++i) y[i] = bf16_to_f32(x[i]);
      return;
    }
  }
  // General strided / converting copy: gather source offsets, then scatter.
  const char* sbase = static_cast<const char*>(src.raw_data());
  char* dbase = static_cast<char*>(raw_data());
  const int64_t ses = static_cast<int64_t>(dtype_info(src.dtype()).block_bytes);
  const int64_t des = static_cast<int64_t>(dtype_info(dtype()).block_bytes);
  std::vector<int64_t> soff(static_cast<size_t>(numel()));
  for_each_offset(src, [&](int64_t i, int64_t off) { soff[static_cast<size_t>(i)] = off; });
  const DType st = src.dtype(), dt = dtype();
  if (st == dt) {
    for_each_offset(*this, [&](int64_t i, int64_t off) {
      std::memcpy(dbase + off * des, sbase + soff[static_cast<size_t>(i)] * ses, static_cast<size_t>(des));
    });
  } else {
    for_each_offset(*this, [&](int64_t i, int64_t off) {
      write_from_float(dbase + off * des, dt, read_as_float(sbase + soff[static_cast<size_t>(i)] * ses, st));
    });
  }
}

void Tensor::fill(float value) {
  if (dtype() == DType::F32 && is_contiguous()) {
    std::fill_n(data<float>(), numel(), value);
    return;
  }
  char* base = static_cast<char*>(raw_data());
  const int64_t es = static_cast<int64_t>(dtype_info(dtype()).block_bytes);
  for_each_offset(*this, [&](int64_t, int64_t off) { write_from_float(base + off * es, dtype(), value); });
}

void Tensor::zero() {
  if (is_contiguous()) {
    std::memset(raw_data(), 0, nbytes());
    return;
  }
  fill(0.0f);
}

// ---- checks -------------------------------------------------------------------------------------------

void check_defined(const Tensor& t, const char* op, const char* arg) {
  if (!t.defined()) throw ValueError(std::string(op) + ": " + arg + " is undefined");
}

void check_ndim(const Tensor& t, int ndim, const char* op, const char* arg) {
  check_defined(t, op, arg);
  if (t.ndim() != ndim)
    throw ShapeError(std::string(op) + ": expected " + arg + " to be " + std::to_string(ndim) + "-d, got " +
                     t.shape().str());
}

void check_dtype(const Tensor& t, DType dtype, const char* op, const char* arg) {
  check_defined(t, op, arg);
  if (t.dtype() != dtype)
    throw DTypeError(std::string(op) + ": expected " + arg + " to be " + std::string(dtype_name(dtype)) + ", got " +
                     std::string(dtype_name(t.dtype())));
}

void check_same_shape(const Tensor& a, const Tensor& b, const char* op) {
  check_defined(a, op, "a");
  check_defined(b, op, "b");
  if (a.shape() != b.shape())
    throw ShapeError(std::string(op) + ": shapes differ: " + a.shape().str() + " vs " + b.shape().str());
}

void check_contiguous(const Tensor& t, const char* op, const char* arg) {
  check_defined(t, op, arg);
  if (!t.is_contiguous()) throw ShapeError(std::string(op) + ": " + arg + " must be contiguous");
}

}  // namespace cornerstone
