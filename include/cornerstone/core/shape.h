// Shapes and strides of up to kMaxDims dimensions, stored inline (no heap).
#pragma once

#include <array>
#include <cstdint>
#include <initializer_list>
#include <string>

namespace cornerstone {

inline constexpr int kMaxDims = 4;

class Shape {
 public:
  Shape() = default;
  Shape(std::initializer_list<int64_t> dims);
  template <typename It>
  Shape(It first, It last) {
    for (; first != last; ++first) push_back(static_cast<int64_t>(*first));
  }

  int ndim() const { return ndim_; }
  int64_t operator[](int d) const { return dims_[static_cast<size_t>(d)]; }
  int64_t& operator[](int d) { return dims_[static_cast<size_t>(d)]; }
  // Dimension d, negative counting from the end (-1 = last); throws ShapeError when out of range.
  int64_t dim(int d) const;
  int64_t numel() const;
  void push_back(int64_t d);
  const int64_t* begin() const { return dims_.data(); }
  const int64_t* end() const { return dims_.data() + ndim_; }

  bool operator==(const Shape& o) const;
  bool operator!=(const Shape& o) const { return !(*this == o); }
  // "(2, 3, 4)"
  std::string str() const;

 private:
  std::array<int64_t, kMaxDims> dims_{};
  int ndim_ = 0;
};

// Strides in elements, one per dimension.
using Strides = std::array<int64_t, kMaxDims>;

// Row-major (C-contiguous) strides for a shape.
Strides contiguous_strides(const Shape& s);

// Normalises a possibly negative dimension index; throws ShapeError naming `op` when out of range.
int normalize_dim(int d, int ndim, const char* op);

}  // namespace cornerstone
