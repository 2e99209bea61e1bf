#include "cornerstone/ops/embedding.h"

#include <cstring>

#include "cornerstone/autograd/graph.h"
#include "cornerstone/core/error.h"
#include "cornerstone/core/profiler.h"
#include "cornerstone/kernels/elementwise.h"
#include "cornerstone/kernels/embedding.h"

namespace cornerstone::ops {

Tensor embedding(const Tensor& table, const Tensor& ids) {
  profiler::Scope profile("embedding");
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

Tensor add_positions(const Tensor& x, const Tensor& positions, int64_t start_pos) {
  profiler::Scope profile("add_positions");
  check_dtype(x, DType::F32, "add_positions", "x");
  check_dtype(positions, DType::F32, "add_positions", "positions");
  check_ndim(x, 3, "add_positions", "x");
  check_ndim(positions, 2, "add_positions", "positions");
  const int64_t B = x.size(0), T = x.size(1), C = x.size(2);
  if (positions.size(1) != C || start_pos < 0 || start_pos + T > positions.size(0))
    throw ShapeError("add_positions: x " + x.shape().str() + " from position " + std::to_string(start_pos) +
                     " does not fit the position table " + positions.shape().str());
  const Tensor xc = x.contiguous(), pc = positions.contiguous();
  Tensor out = Tensor::empty(x.shape());
  const float* pos = pc.data<float>() + start_pos * C;
  for (int64_t b = 0; b < B; ++b)
    kernels::add(xc.data<float>() + b * T * C, pos, T * C, out.data<float>() + b * T * C);
  if (autograd::needs_grad({x, positions})) {
    autograd::record("add_positions", {x, positions}, out, [B, T, C, start_pos](const Tensor& g, autograd::GradSink& sink) {
      if (sink.needs(0)) sink.accumulate(0, g);
      if (sink.needs(1)) {  // d positions[start_pos + t] += sum over the batch of g[b, t]
        auto dp = sink.buffer(1);
        if (dp.fresh) dp.tensor.zero();
        kernels::sum_rows(g.data<float>(), B, T * C, dp.data() + start_pos * C);
      }
    });
  }
  return out;
}

Tensor prepend_token(const Tensor& x, const Tensor& token) {
  check_dtype(x, DType::F32, "prepend_token", "x");
  check_dtype(token, DType::F32, "prepend_token", "token");
  check_ndim(x, 3, "prepend_token", "x");
  const int64_t B = x.size(0), N = x.size(1), C = x.size(2);
  if (token.numel() != C)
    throw ShapeError("prepend_token: token " + token.shape().str() + " must hold " + std::to_string(C) + " values (the width of x " +
                     x.shape().str() + ")");
  const Tensor xc = x.contiguous(), tc = token.contiguous();
  Tensor out = Tensor::empty({B, N + 1, C});
  const size_t row = sizeof(float) * static_cast<size_t>(C);
  for (int64_t b = 0; b < B; ++b) {
    std::memcpy(out.data<float>() + b * (N + 1) * C, tc.data<float>(), row);
    std::memcpy(out.data<float>() + (b * (N + 1) + 1) * C, xc.data<float>() + b * N * C, row * static_cast<size_t>(N));
  }
  if (autograd::needs_grad({x, token}))
    autograd::record("prepend_token", {x, token}, out, [B, N, C](const Tensor& g, autograd::GradSink& sink) {
      const float* d = g.data<float>();
      if (sink.needs(0)) {
        auto dx = sink.buffer(0);
        for (int64_t b = 0; b < B; ++b)
          for (int64_t i = 0; i < N * C; ++i) {
            const float v = d[(b * (N + 1) + 1) * C + i];
            dx.data()[b * N * C + i] = dx.fresh ? v : dx.data()[b * N * C + i] + v;
          }
      }
      if (sink.needs(1)) {
        auto dt = sink.buffer(1);
        if (dt.fresh) dt.tensor.zero();
        for (int64_t b = 0; b < B; ++b)
          for (int64_t c = 0; c < C; ++c) dt.data()[c] += d[b * (N + 1) * C + c];
      }
    });
  return out;
}

}  // namespace cornerstone::ops
