#include "cornerstone/train/data_parallel.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "cornerstone/core/error.h"
#include "cornerstone/core/profiler.h"
#include "cornerstone/dist/process_group.h"
#include "cornerstone/kernels/elementwise.h"
#include "cornerstone/kernels/optim.h"
#include "gradient_buckets.h"

namespace cornerstone::train {

void GradientSync::partition_gradients() { throw ValueError("--zero 2 partitions the gradients over several processes: run under mpirun -np N (N > 1)"); }

Shard LocalGradientSync::shard() const { return {}; }

void LocalGradientSync::reduce(const std::vector<Tensor>&) {}

double LocalGradientSync::mean(double local) { return local; }

ProcessGroupSync::ProcessGroupSync(size_t bucket_bytes, dist::ProcessGroup* group)
    : group_(group ? *group : dist::ProcessGroup::world()), bucket_floats_(std::max<size_t>(1, bucket_bytes / sizeof(float))) {}

ProcessGroupSync::~ProcessGroupSync() = default;

Shard ProcessGroupSync::shard() const { return {group_.rank(), group_.size()}; }

void ProcessGroupSync::partition_gradients() {
  if (group_.size() == 1) throw ValueError("--zero 2 partitions the gradients over the data-parallel processes, and there is one");
  partition_gradients_ = true;
}

bool ProcessGroupSync::writer() const { return dist::ProcessGroup::world().rank() == 0; }

double ProcessGroupSync::comm_seconds() const { return comm_seconds_ + (buckets_ ? buckets_->seconds() : 0.0); }

autograd::BackwardObserver* ProcessGroupSync::backward_observer(const std::vector<Tensor>& params, int64_t m, int64_t micros) {
  // Plain data parallelism reduces once, in the last pass (the earlier ones accumulate locally);
  // ZeRO-2 reduce-scatters every pass, so that no pass leaves every gradient behind.
  if (group_.size() == 1 || (!partition_gradients_ && m + 1 < micros)) return nullptr;
  if (!buckets_ || !buckets_->serves(params)) {
    const auto mode = partition_gradients_ ? GradientBuckets::Mode::ReduceScatter : GradientBuckets::Mode::AllReduce;
    const double before = comm_seconds();
    buckets_ = std::make_unique<GradientBuckets>(params, mode, bucket_floats_, group_);
    comm_seconds_ = before;
  }
  buckets_->begin_pass(m == 0 || !partition_gradients_);
  return buckets_.get();
}

GradientShard* ProcessGroupSync::gradient_shard() { return partition_gradients_ && buckets_ ? &buckets_->shard() : nullptr; }

void ProcessGroupSync::reduce(const std::vector<Tensor>& params) {
  if (group_.size() == 1) return;  // tensor parallel alone: every process of the batch holds other weights
  if (!buckets_ || !buckets_->reduced() || !buckets_->serves(params))
    throw Error("data parallel: the gradients are reduced during the backward pass; install backward_observer() for it (TrainStep does)");
  // The buckets reduced the gradients during the passes. What remains: which parameters some
  // process reached (one small all-reduce), as one process would leave the others without .grad.
  profiler::Scope p("data parallel: which gradients exist");
  const auto t0 = std::chrono::steady_clock::now();
  dist::ProcessGroup& g = group_;
  std::vector<double> reached(buckets_->reached_here().begin(), buckets_->reached_here().end());
  g.all_reduce_sum(reached.data(), reached.size());
  if (partition_gradients_) {
    GradientShard& s = buckets_->shard();
    for (size_t k = 0; k < reached.size(); ++k) s.reached[k] = reached[k] > 0 ? 1 : 0;
    kernels::scale(s.values.data<float>(), s.end - s.begin, 1.0f / static_cast<float>(g.size()));
  } else {
    for (size_t k = 0; k < params.size(); ++k)
      if (reached[k] == 0) Tensor(params[k]).zero_grad();
  }
  comm_seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

double clip_grad_norm(GradientShard& shard, double max_norm, GradientSync& sync) {
  const int64_t n = shard.end - shard.begin;
  const double local = n > 0 ? kernels::sum_squares(shard.values.data<float>(), n) : 0.0;
  const double norm = std::sqrt(sync.mean(local) * static_cast<double>(sync.shard().world));
  if (max_norm > 0 && norm > max_norm && n > 0) kernels::scale(shard.values.data<float>(), n, static_cast<float>(max_norm / (norm + 1e-6)));
  return norm;
}

double ProcessGroupSync::mean(double local) {
  dist::ProcessGroup& g = group_;
  g.all_reduce_sum(&local, 1);
  return local / static_cast<double>(g.size());
}

bool ProcessGroupSync::any(bool local) { return dist::ProcessGroup::world().any(local); }

int64_t ProcessGroupSync::from_first(int64_t value) { return dist::ProcessGroup::world().broadcast(value, 0); }

std::unique_ptr<GradientSync> make_gradient_sync(dist::ProcessGroup* data_group, double bucket_mb) {
  if (!(bucket_mb > 0) || bucket_mb > 4096) throw ValueError("--bucket-mb " + std::to_string(bucket_mb) + ": must be in (0, 4096]");
  if (!dist::ProcessGroup::world().distributed()) return nullptr;
  return std::make_unique<ProcessGroupSync>(static_cast<size_t>(bucket_mb * 1048576.0), data_group);
}

}  // namespace cornerstone::train
