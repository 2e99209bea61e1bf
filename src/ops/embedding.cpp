#include "cornerstone/ops/embedding.h"

#include "cornerstone/autograd/graph.h"
#include "cornerstone/core/error.h"
#include "cornerstone/kernels/embedding.h"

namespace cornerstone::ops {

Tensor embedding(const Tensor& table, const Tensor& ids) {
  check_dtype(table, DType::F32, "embedding", "table");
  check_dtype(ids, DType::I32, "embedding", "ids");
  check_ndim(table, 2, "embedding", "table");
  if (ids.ndim() >= kMaxDims) throw ShapeError("embedding: ids " + ids.shape().str() + " has too many dimensions");
  const int64_t V = table.size(0), C = table.size(1), N = ids.numel();
  const Tensor tc = table.contiguous(), ic = ids.contiguous();
  const int32_t* id = ic.data<int32_t>();
  for (int64_t i = 0; i < N; ++i)
    if (id[i] < 0 || id[i] >= V)
      throw ValueError("embedding: id " + std::to_string(id[i]) + " at position " + std::to_string(i) +
                       " is outside the table of " + std::to_string(V) + " rows");
  Shape s = ids.shape();
  s.push_back(C);
  Tensor out = Tensor::empty(s);
  kernels::embedding_forward(tc.data<float>(), id, N, C, out.data<float>());
  if (autograd::needs_grad({table})) {
    autograd::record("embedding", {table, Tensor()}, out, [ic, N, C](const Tensor& g, autograd::GradSink& sink) {
      auto dt = sink.buffer(0);
      if (dt.fresh) dt.tensor.zero();
      kernels::embedding_backward(g.data<float>(), ic.data<int32_t>(), N, C, dt.data());
    });
  }
  return out;
}

}  // namespace cornerstone::ops
