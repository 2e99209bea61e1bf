#include "cornerstone/ops/dropout.h"

#include "cornerstone/autograd/graph.h"
#include "cornerstone/core/error.h"
#include "cornerstone/core/profiler.h"
#include "cornerstone/kernels/dropout.h"

namespace cornerstone::ops {

Tensor dropout(const Tensor& x, float p, Rng& rng) {
  profiler::Scope profile("dropout");
  check_dtype(x, DType::F32, "dropout", "x");
  if (!(p >= 0.0f && p < 1.0f)) throw ValueError("dropout: probability " + std::to_string(p) + " is not in [0, 1)");
  if (p == 0.0f) return x;
  const Tensor xc = x.contiguous();
  const int64_t n = xc.numel();
  const uint64_t counter = rng.reserve(static_cast<uint64_t>((n + 3) / 4));
  Tensor mask = Tensor::empty({(n + 7) / 8}, DType::U8);  // one keep-bit per element
  Tensor out = Tensor::empty(x.shape());
  kernels::dropout_forward(xc.data<float>(), n, p, rng.seed(), counter, out.data<float>(), mask.data<uint8_t>());
  if (autograd::needs_grad({x})) {
    autograd::record("dropout", {x}, out, [mask, n, p](const Tensor& g, autograd::GradSink& sink) {
      auto dx = sink.buffer(0);
      kernels::dropout_backward(g.data<float>(), mask.data<uint8_t>(), n, p, dx.data(), !dx.fresh);
    });
  }
  return out;
}

}  // namespace cornerstone::ops
