// Views and copies of Tensor, differentiable. A view shares storage and rewrites shape/strides;
// its backward maps the gradient back onto the input's shape.
#include <cstring>

#include "cornerstone/autograd/graph.h"
#include "cornerstone/core/error.h"
#include "cornerstone/core/tensor.h"
#include "cornerstone/kernels/elementwise.h"

namespace cornerstone {

namespace {

Tensor make_view(const Tensor& src, const Shape& shape, const Strides& strides, size_t byte_offset) {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = src.storage();
  impl->byte_offset = byte_offset;
  impl->shape = shape;
  impl->strides = strides;
  impl->dtype = src.dtype();
  return Tensor(std::move(impl));
}

// Strides for viewing a tensor as `shape` without copying, if its layout allows it.
bool view_strides(const Tensor& t, const Shape& shape, Strides& out) {
  if (t.is_contiguous()) {
    out = contiguous_strides(shape);
    return true;
  }
  // Non-contiguous: allowed when the new shape only splits or merges dimensions that are themselves
  // laid out contiguously relative to each other (PyTorch's rule), handled for the common cases.
  // Merge groups of old dims into new dims greedily.
  const Shape& old = t.shape();
  int oi = 0, ni = 0;
  Strides st{};
  while (ni < shape.ndim() || oi < old.ndim()) {
    // skip size-1 dims
    if (ni < shape.ndim() && shape[ni] == 1) {
      st[static_cast<size_t>(ni)] = 1;
      ++ni;
      continue;
    }
    if (oi < old.ndim() && old[oi] == 1) {
      ++oi;
      continue;
    }
    if (ni >= shape.ndim() || oi >= old.ndim()) return false;
    // Collect old dims until their product covers new dims' product.
    int64_t oprod = old[oi], nprod = shape[ni];
    int o_end = oi, n_end = ni;
    while (oprod != nprod) {
      if (oprod < nprod) {
        if (++o_end >= old.ndim()) return false;
        oprod *= old[o_end];
      } else {
        if (++n_end >= shape.ndim()) return false;
        nprod *= shape[n_end];
      }
    }
    // old dims oi..o_end must be contiguous among themselves
    for (int k = oi; k < o_end; ++k)
      if (old[k + 1] != 1 && t.strides()[static_cast<size_t>(k)] != t.strides()[static_cast<size_t>(k + 1)] * old[k + 1])
        return false;
    int64_t s = t.strides()[static_cast<size_t>(o_end)];
    for (int k = n_end; k >= ni; --k) {
      st[static_cast<size_t>(k)] = s;
      s *= shape[k];
    }
    oi = o_end + 1;
    ni = n_end + 1;
  }
  out = st;
  return true;
}

}  // namespace

Tensor Tensor::view(const Shape& want) const {
  check_defined(*this, "view", "tensor");
  if (want.numel() != numel())
    throw ShapeError("view: cannot view " + shape().str() + " (" + std::to_string(numel()) + " elements) as " +
                     want.str());
  Strides st;
  if (!view_strides(*this, want, st))
    throw ShapeError("view: " + shape().str() + " with its strides cannot be viewed as " + want.str() +
                     " without a copy; call contiguous() first");
  Tensor out = make_view(*this, want, st, byte_offset());
  if (autograd::needs_grad({*this})) {
    const Shape in_shape = shape();
    autograd::record("view", {*this}, out, [in_shape](const Tensor& g, autograd::GradSink& sink) {
      sink.accumulate(0, g.contiguous().view(in_shape));
    });
  }
  return out;
}

Tensor Tensor::transpose(int d0, int d1) const {
  check_defined(*this, "transpose", "tensor");
  const int a = normalize_dim(d0, ndim(), "transpose"), b = normalize_dim(d1, ndim(), "transpose");
  Shape s = shape();
  Strides st = strides();
  std::swap(s[a], s[b]);
  std::swap(st[static_cast<size_t>(a)], st[static_cast<size_t>(b)]);
  Tensor out = make_view(*this, s, st, byte_offset());
  if (autograd::needs_grad({*this})) {
    autograd::record("transpose", {*this}, out, [a, b](const Tensor& g, autograd::GradSink& sink) {
      sink.accumulate(0, g.detach().transpose(a, b).contiguous());
    });
  }
  return out;
}

Tensor Tensor::slice(int dim, int64_t start, int64_t end) const {
  check_defined(*this, "slice", "tensor");
  const int d = normalize_dim(dim, ndim(), "slice");
  if (start < 0 || end < start || end > shape()[d])
    throw ShapeError("slice: range [" + std::to_string(start) + ", " + std::to_string(end) + ") out of bounds for dimension " +
                     std::to_string(d) + " of " + shape().str());
  Shape s = shape();
  s[d] = end - start;
  if (dtype_info(dtype()).block_size != 1) throw DTypeError("slice: not supported for block dtype " + std::string(dtype_name(dtype())));
  const size_t es = dtype_info(dtype()).block_bytes;
  const size_t off = byte_offset() + static_cast<size_t>(start * strides()[static_cast<size_t>(d)]) * es;
  Tensor out = make_view(*this, s, strides(), off);
  if (autograd::needs_grad({*this})) {
    autograd::record("slice", {*this}, out, [d, start, end](const Tensor& g, autograd::GradSink& sink) {
      auto buf = sink.buffer(0);
      if (buf.fresh) buf.tensor.zero();
      Tensor region = buf.tensor.slice(d, start, end);
      Tensor gc = g.contiguous();
      if (region.is_contiguous()) {
        kernels::add(region.data<float>(), gc.data<float>(), gc.numel(), region.data<float>());
      } else {
        Tensor sum = region.clone();
        kernels::add(sum.data<float>(), gc.data<float>(), gc.numel(), sum.data<float>());
        region.copy_from(sum);
      }
    });
  }
  return out;
}

Tensor Tensor::select(int dim, int64_t index) const {
  check_defined(*this, "select", "tensor");
  const int d = normalize_dim(dim, ndim(), "select");
  if (index < 0 || index >= shape()[d])
    throw ShapeError("select: index " + std::to_string(index) + " out of range for dimension " + std::to_string(d) +
                     " of " + shape().str());
  Tensor sl = slice(d, index, index + 1);
  Shape s;
  Strides st{};
  int k = 0;
  for (int i = 0; i < ndim(); ++i) {
    if (i == d) continue;
    s.push_back(shape()[i]);
    st[static_cast<size_t>(k++)] = strides()[static_cast<size_t>(i)];
  }
  Tensor out = make_view(sl, s, st, sl.byte_offset());
  if (autograd::needs_grad({sl})) {
    const Shape sl_shape = sl.shape();
    autograd::record("select", {sl}, out, [sl_shape](const Tensor& g, autograd::GradSink& sink) {
      sink.accumulate(0, g.contiguous().view(sl_shape));
    });
  }
  return out;
}

Tensor Tensor::clone() const {
  check_defined(*this, "clone", "tensor");
  Tensor out = Tensor::empty(shape(), dtype());
  out.copy_from(*this);
  if (autograd::needs_grad({*this})) {
    autograd::record("clone", {*this}, out, [](const Tensor& g, autograd::GradSink& sink) { sink.accumulate(0, g); });
  }
  return out;
}

Tensor Tensor::contiguous() const {
  check_defined(*this, "contiguous", "tensor");
  return is_contiguous() ? *this : clone();
}

Tensor Tensor::to(DType dt) const {
  check_defined(*this, "to", "tensor");
  if (dt == dtype()) return *this;
  Tensor out = Tensor::empty(shape(), dt);
  out.copy_from(*this);
  if (autograd::needs_grad({*this}) && dtype_is_float(dt)) {
    autograd::record("to", {*this}, out, [](const Tensor& g, autograd::GradSink& sink) { sink.accumulate(0, g); });
  }
  return out;
}

}  // namespace cornerstone
