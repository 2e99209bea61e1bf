#include "cornerstone/train/data_parallel.h"

#include <algorithm>
#include <chrono>
#include <cstring>

#include "cornerstone/core/error.h"
#include "cornerstone/core/profiler.h"
#include "cornerstone/dist/process_group.h"

namespace cornerstone::train {

Shard LocalGradientSync::shard() const { return {}; }

void LocalGradientSync::reduce(const std::vector<Tensor>&) {}

double LocalGradientSync::mean(double local) { return local; }

ProcessGroupSync::ProcessGroupSync(size_t bucket_bytes) : bucket_floats_(std::max<size_t>(1, bucket_bytes / sizeof(float))) {}

Shard ProcessGroupSync::shard() const {
  const dist::ProcessGroup& g = dist::ProcessGroup::world();
  return {g.rank(), g.size()};
}

void ProcessGroupSync::reduce(const std::vector<Tensor>& params) {
  profiler::Scope p("data parallel: all-reduce gradients");
  dist::ProcessGroup& g = dist::ProcessGroup::world();
  const auto t0 = std::chrono::steady_clock::now();
  // Every process holds the same parameters in the same order. A gradient that no process's
  // backward reached stays undefined, as in one process (the optimizer skips it); one that only
  // some reached takes part as zeros elsewhere, so that the buckets line up.
  std::vector<double> reached(params.size());
  for (size_t k = 0; k < params.size(); ++k) reached[k] = params[k].grad().defined() ? 1 : 0;
  g.all_reduce_sum(reached.data(), reached.size());
  std::vector<Tensor> grads;
  for (size_t k = 0; k < params.size(); ++k) {
    if (reached[k] == 0) continue;
    Tensor gr = params[k].grad();
    if (!gr.defined()) {
      gr = Tensor::zeros(params[k].shape());
      Tensor(params[k]).set_grad(gr);
    }
    if (gr.dtype() != DType::F32 || !gr.is_contiguous()) throw Error("data parallel: gradients must be contiguous fp32");
    grads.push_back(gr);
  }
  const float inv = 1.0f / static_cast<float>(g.size());
  size_t i = 0;
  while (i < grads.size()) {
    // One bucket: consecutive gradients up to bucket_floats_ (a larger one alone).
    size_t j = i, n = 0;
    while (j < grads.size() && (j == i || n + static_cast<size_t>(grads[j].numel()) <= bucket_floats_)) n += static_cast<size_t>(grads[j++].numel());
    if (j == i + 1) {
      float* x = grads[i].data<float>();
      g.all_reduce_sum(x, n);
      for (size_t k = 0; k < n; ++k) x[k] *= inv;
    } else {
      buffer_.resize(n);
      size_t off = 0;
      for (size_t k = i; k < j; ++k) {
        const size_t m = static_cast<size_t>(grads[k].numel());
        std::memcpy(buffer_.data() + off, grads[k].data<float>(), m * sizeof(float));
        off += m;
      }
      g.all_reduce_sum(buffer_.data(), n);
      off = 0;
      for (size_t k = i; k < j; ++k) {
        const size_t m = static_cast<size_t>(grads[k].numel());
        float* x = grads[k].data<float>();
        for (size_t e = 0; e < m; ++e) x[e] = buffer_[off + e] * inv;
        off += m;
      }
    }
    i = j;
  }
  comm_seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

double ProcessGroupSync::mean(double local) {
  dist::ProcessGroup& g = dist::ProcessGroup::world();
  g.all_reduce_sum(&local, 1);
  return local / static_cast<double>(g.size());
}

bool ProcessGroupSync::any(bool local) { return dist::ProcessGroup::world().any(local); }

int64_t ProcessGroupSync::from_first(int64_t value) { return dist::ProcessGroup::world().broadcast(value, 0); }

std::unique_ptr<GradientSync> make_gradient_sync() {
  if (!dist::ProcessGroup::world().distributed()) return nullptr;
  return std::make_unique<ProcessGroupSync>();
}

}  // namespace cornerstone::train
