#include "cornerstone/ops/tensor_parallel.h"

#include "cornerstone/autograd/graph.h"
#include "cornerstone/core/profiler.h"

namespace cornerstone::ops {

namespace {

// A contiguous fp32 copy of t, summed over the group in place.
Tensor summed(const Tensor& t, dist::ProcessGroup& group) {
  Tensor out = t.contiguous().detach().clone();
  group.all_reduce_sum(out.data<float>(), static_cast<size_t>(out.numel()));
  return out;
}

}  // namespace

Tensor enter_tensor_parallel(const Tensor& x, dist::ProcessGroup& group) {
  check_dtype(x, DType::F32, "enter_tensor_parallel", "x");
  if (group.size() == 1) return x;
  Tensor out = x.contiguous().detach().clone();
  if (autograd::needs_grad({x}))
    autograd::record("enter_tensor_parallel", {x}, out, [&group](const Tensor& g, autograd::GradSink& sink) {
      profiler::Scope p("tensor parallel: all-reduce dx");
      sink.accumulate(0, summed(g, group));
    });
  return out;
}

Tensor leave_tensor_parallel(const Tensor& y, dist::ProcessGroup& group) {
  check_dtype(y, DType::F32, "leave_tensor_parallel", "y");
  if (group.size() == 1) return y;
  Tensor out;
  {
    profiler::Scope p("tensor parallel: all-reduce y");
    out = summed(y, group);
  }
  if (autograd::needs_grad({y}))
    autograd::record("leave_tensor_parallel", {y}, out, [](const Tensor& g, autograd::GradSink& sink) { sink.accumulate(0, g); });
  return out;
}

}  // namespace cornerstone::ops
