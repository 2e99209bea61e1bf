// The autograd methods of Tensor.
#include "cornerstone/autograd/graph.h"
#include "cornerstone/core/error.h"
#include "cornerstone/core/tensor.h"

namespace cornerstone {

bool Tensor::requires_grad() const { return defined() && impl_->autograd && impl_->autograd->requires_grad; }

Tensor& Tensor::requires_grad_(bool on) {
  check_defined(*this, "requires_grad_", "tensor");
  if (impl_->autograd && impl_->autograd->grad_fn)
    throw ValueError("requires_grad_: only leaf tensors can be marked; this one was produced by '" +
                     std::string(impl_->autograd->grad_fn->name()) + "' (use detach() first)");
  if (on && !dtype_is_float(dtype())) throw DTypeError("requires_grad_: only floating-point tensors can require grad");
  if (!impl_->autograd) impl_->autograd = std::make_shared<autograd::AutogradMeta>();
  impl_->autograd->requires_grad = on;
  return *this;
}

Tensor Tensor::grad() const {
  if (!defined() || !impl_->autograd) return Tensor();
  return impl_->autograd->grad;
}

void Tensor::set_grad(const Tensor& g) {
  check_defined(*this, "set_grad", "tensor");
  if (g.defined() && g.shape() != shape())
    throw ShapeError("set_grad: gradient " + g.shape().str() + " for tensor " + shape().str());
  if (!impl_->autograd) impl_->autograd = std::make_shared<autograd::AutogradMeta>();
  impl_->autograd->grad = g;
}

void Tensor::zero_grad() {
  if (defined() && impl_->autograd) impl_->autograd->grad = Tensor();
}

void Tensor::backward(const Tensor& seed) const { autograd::run_backward(*this, seed); }

Tensor Tensor::detach() const {
  check_defined(*this, "detach", "tensor");
  auto impl = std::make_shared<TensorImpl>(*impl_);
  impl->autograd = nullptr;
  return Tensor(std::move(impl));
}

}  // namespace cornerstone
