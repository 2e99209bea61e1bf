#include "cornerstone/nn/tensor_parallel.h"

#include <algorithm>
#include <numeric>

#include "cornerstone/core/error.h"

namespace cornerstone::nn {

namespace {

void check_spec(const Tensor& t, const ShardSpec& spec, int64_t size, bool whole) {
  if (spec.first_only) return;
  if (spec.dim < 0 || spec.dim >= t.ndim()) throw ShapeError("tensor parallel: dim " + std::to_string(spec.dim) + " of a " + t.shape().str() + " tensor");
  const int64_t total = std::accumulate(spec.sections.begin(), spec.sections.end(), int64_t{0});
  for (const int64_t s : spec.sections)
    if (s % size != 0) throw ValueError("tensor parallel: a section of " + std::to_string(s) + " does not split over " + std::to_string(size) + " processes");
  const int64_t want = whole ? total : total / size;
  if (t.size(spec.dim) != want)
    throw ShapeError("tensor parallel: a " + std::string(whole ? "whole" : "share") + " tensor " + t.shape().str() + " has " +
                     std::to_string(t.size(spec.dim)) + " along dim " + std::to_string(spec.dim) + ", expected " + std::to_string(want));
}

// Rows of a 1-D or 2-D tensor split along `dim` 0, or columns along dim 1: the row length and count.
int64_t inner(const Tensor& t, int dim) { return dim == 0 ? t.numel() / t.size(0) : 1; }

}  // namespace

std::vector<std::pair<int64_t, int64_t>> share_ranges(const ShardSpec& spec, int64_t rank, int64_t size) {
  std::vector<std::pair<int64_t, int64_t>> out;
  int64_t off = 0;
  for (const int64_t s : spec.sections) {
    const int64_t part = s / size;
    out.emplace_back(off + rank * part, off + (rank + 1) * part);
    off += s;
  }
  return out;
}

Tensor share_of(const Tensor& whole, const ShardSpec& spec, int64_t rank, int64_t size) {
  check_dtype(whole, DType::F32, "tensor parallel", "tensor");
  check_spec(whole, spec, size, true);
  const Tensor w = whole.contiguous();
  if (spec.first_only) return w.detach().clone();
  Shape shape = w.shape();
  shape[spec.dim] /= size;
  Tensor out = Tensor::empty(shape);
  const auto ranges = share_ranges(spec, rank, size);
  if (spec.dim == 0) {
    const int64_t row = inner(w, 0);
    int64_t at = 0;
    for (const auto& [lo, hi] : ranges) {
      std::copy(w.data<float>() + lo * row, w.data<float>() + hi * row, out.data<float>() + at * row);
      at += hi - lo;
    }
  } else {  // columns of a matrix
    const int64_t rows = w.size(0), cols = w.size(1), part = out.size(1);
    for (int64_t r = 0; r < rows; ++r) {
      int64_t at = 0;
      for (const auto& [lo, hi] : ranges) {
        std::copy(w.data<float>() + r * cols + lo, w.data<float>() + r * cols + hi, out.data<float>() + r * part + at);
        at += hi - lo;
      }
    }
  }
  return out;
}

Shape whole_shape(const Shape& share_shape, const ShardSpec& spec, int64_t size) {
  Shape shape = share_shape;
  if (!spec.first_only) shape[spec.dim] *= size;
  return shape;
}

Tensor gather_shares(const Tensor& share, const ShardSpec& spec, dist::ProcessGroup& group, int root) {
  check_dtype(share, DType::F32, "tensor parallel", "share");
  const int64_t size = group.size();
  const bool receives = root < 0 || group.rank() == root;
  if (spec.first_only || size == 1) return receives ? share.contiguous().detach().clone() : Tensor();
  check_spec(share, spec, size, false);
  // Every process's share end to end (on the receivers), then each put in its places.
  const int64_t n = share.numel();
  const std::vector<int64_t> counts(static_cast<size_t>(size), n);
  const Tensor s = share.contiguous();
  if (root >= 0 && !receives) {  // a sender only
    group.gather(s.data<float>(), nullptr, counts, root);
    return Tensor();
  }
  std::vector<float> all(static_cast<size_t>(n * size));
  if (root >= 0) {
    group.gather(s.data<float>(), all.data(), counts, root);
  } else {
    std::copy(s.data<float>(), s.data<float>() + n, all.data() + group.rank() * n);
    group.all_gather(all.data(), counts);
  }
  Tensor whole = Tensor::empty(whole_shape(share.shape(), spec, size));
  for (int64_t r = 0; r < size; ++r) {
    const float* src = all.data() + r * n;
    const auto ranges = share_ranges(spec, r, size);
    if (spec.dim == 0) {
      const int64_t row = inner(whole, 0);
      int64_t at = 0;
      for (const auto& [lo, hi] : ranges) {
        std::copy(src + at * row, src + (at + hi - lo) * row, whole.data<float>() + lo * row);
        at += hi - lo;
      }
    } else {
      const int64_t rows = whole.size(0), cols = whole.size(1), part = share.size(1);
      for (int64_t i = 0; i < rows; ++i) {
        int64_t at = 0;
        for (const auto& [lo, hi] : ranges) {
          std::copy(src + i * part + at, src + i * part + at + (hi - lo), whole.data<float>() + i * cols + lo);
          at += hi - lo;
        }
      }
    }
  }
  return whole;
}

}  // namespace cornerstone::nn
