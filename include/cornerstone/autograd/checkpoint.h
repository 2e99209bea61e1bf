// Activation checkpointing: run a function without keeping its intermediate activations, and
// recompute them in the backward pass.
//
//   Tensor y = autograd::checkpoint([&](const Tensor& x) { return block.forward(x); }, x);
//
// The forward pass runs `fn` under no-grad (only `x` is kept). When the gradient reaches `y`, `fn`
// runs again with recording on, on a detached copy of `x`, and that inner graph is back-propagated
// with y's gradient: parameters used inside `fn` (leaves) receive their gradients directly, and x's
// gradient flows on to the outer graph. `fn` must be deterministic (use counter-based randomness
// for dropout: pass it a generator state it restores).
#pragma once

#include <functional>

#include "cornerstone/core/tensor.h"

namespace cornerstone::autograd {

Tensor checkpoint(const std::function<Tensor(const Tensor&)>& fn, const Tensor& x);

}  // namespace cornerstone::autograd
