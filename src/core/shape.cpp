#include "cornerstone/core/shape.h"

#include "cornerstone/core/error.h"

namespace cornerstone {

Shape::Shape(std::initializer_list<int64_t> dims) {
  for (int64_t d : dims) push_back(d);
}

void Shape::push_back(int64_t d) {
  if (ndim_ == kMaxDims)
    throw ShapeError("shape: at most " + std::to_string(kMaxDims) + " dimensions are supported, got more in " + str());
  if (d < 0) throw ShapeError("shape: negative dimension " + std::to_string(d));
  dims_[static_cast<size_t>(ndim_++)] = d;
}

int64_t Shape::dim(int d) const { return dims_[static_cast<size_t>(normalize_dim(d, ndim_, "shape"))]; }

int64_t Shape::numel() const {
  // Checked: a shape read from a file can have dimensions whose product wraps around 64 bits.
  int64_t n = 1;
  for (int i = 0; i < ndim_; ++i)
    if (__builtin_mul_overflow(n, dims_[static_cast<size_t>(i)], &n))
      throw ShapeError("shape " + str() + ": element count overflows 64 bits");
  return n;
}

bool Shape::operator==(const Shape& o) const {
  if (ndim_ != o.ndim_) return false;
  for (int i = 0; i < ndim_; ++i)
    if (dims_[static_cast<size_t>(i)] != o.dims_[static_cast<size_t>(i)]) return false;
  return true;
}

std::string Shape::str() const {
  std::string s = "(";
  for (int i = 0; i < ndim_; ++i) {
    if (i) s += ", ";
    s += std::to_string(dims_[static_cast<size_t>(i)]);
  }
  if (ndim_ == 1) s += ",";
  return s + ")";
}

Strides contiguous_strides(const Shape& s) {
  Strides st{};
  int64_t acc = 1;
  for (int i = s.ndim() - 1; i >= 0; --i) {
    st[static_cast<size_t>(i)] = acc;
    acc *= s[i];
  }
  return st;
}

int normalize_dim(int d, int ndim, const char* op) {
  const int nd = d < 0 ? d + ndim : d;
  if (nd < 0 || nd >= ndim)
    throw ShapeError(std::string(op) + ": dimension " + std::to_string(d) + " out of range for a " +
                     std::to_string(ndim) + "-d tensor");
  return nd;
}

}  // namespace cornerstone
