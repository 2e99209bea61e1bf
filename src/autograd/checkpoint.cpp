#include "cornerstone/autograd/checkpoint.h"

#include "cornerstone/autograd/grad_mode.h"
#include "cornerstone/autograd/graph.h"

namespace cornerstone::autograd {

Tensor checkpoint(const std::function<Tensor(const Tensor&)>& fn, const Tensor& x) {
  if (!grad_enabled()) return fn(x);
  Tensor out;
  {
    NoGradGuard no_grad;
    out = fn(x);
  }
  // The node keeps x (the block input) and the function; everything fn computed is already freed.
  const Tensor saved = x.detach();
  record("checkpoint", {x}, out, [fn, saved](const Tensor& g, GradSink& sink) {
    Tensor xr = saved.clone();
    xr.requires_grad_(sink.needs(0));
    Tensor y;
    {
      // Backward functions run under no-grad; recording is wanted for the recomputation.
      struct EnableGrad {
        bool prev = grad_enabled();
        EnableGrad() { set_grad_enabled(true); }
        ~EnableGrad() { set_grad_enabled(prev); }
      } enable;
      y = fn(xr);
    }
    if (y.requires_grad()) y.backward(g);
    if (sink.needs(0) && xr.grad().defined()) sink.accumulate(0, xr.grad());
  });
  return out;
}

}  // namespace cornerstone::autograd
