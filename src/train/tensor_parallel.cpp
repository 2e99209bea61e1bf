#include "cornerstone/train/tensor_parallel.h"

#include <algorithm>

#include "cornerstone/core/error.h"
#include "cornerstone/kernels/optim.h"
#include "cornerstone/nn/layers.h"

namespace cornerstone::train {

TensorParallel::TensorParallel(int64_t size) {
  dist::ProcessGroup& world = dist::ProcessGroup::world();
  if (size < 1 || world.size() % size != 0)
    throw ValueError("--tensor-parallel " + std::to_string(size) + " must divide the " + std::to_string(world.size()) +
                     " processes of the job (mpirun -np N: N = data-parallel replicas x tensor-parallel size)");
  const int r = world.rank(), k = static_cast<int>(size);
  tensor_ = world.split(r / k, r % k);  // ranks [k i, k (i + 1)): one replica of the model
  data_ = world.split(r % k, r / k);    // ranks t, t + k, ...: the same shares in every replica
}

void TensorParallel::shard(models::PretrainedModel& model) {
  if (!plan_.empty()) throw ValueError("tensor parallel: the model is already split");
  plan_ = model.shard_tensor_parallel(*tensor_);
  for (size_t i = 0; i < plan_.size(); ++i) {
    by_name_[plan_[i].name] = i;
    if (std::find(layers_.begin(), layers_.end(), plan_[i].layer) == layers_.end()) layers_.push_back(plan_[i].layer);
  }
}

const nn::ShardedParameter* TensorParallel::entry(const std::string& name) const {
  for (const char* suffix : {"", ".exp_avg", ".exp_avg_sq"}) {
    const std::string s(suffix);
    if (name.size() <= s.size() || name.compare(name.size() - s.size(), s.size(), s) != 0) continue;
    if (const auto it = by_name_.find(name.substr(0, name.size() - s.size())); it != by_name_.end()) return &plan_[it->second];
  }
  return nullptr;
}

std::vector<io::TensorLayout> TensorParallel::whole_layout(const std::vector<std::pair<std::string, Tensor>>& shares) const {
  std::vector<io::TensorLayout> out;
  out.reserve(shares.size());
  for (const auto& [name, t] : shares) {
    const nn::ShardedParameter* e = entry(name);
    out.push_back({name, t.dtype(), e ? nn::whole_shape(t.shape(), e->spec, tensor_->size()) : t.shape()});
  }
  return out;
}

Tensor TensorParallel::gather_for_writer(const std::string& name, const Tensor& share) {
  // The writer is process 0 of replica 0; the other replicas' groups have nothing to do.
  if (data_->rank() != 0) return Tensor();
  const nn::ShardedParameter* e = entry(name);
  if (!e) return tensor_->rank() == 0 ? share : Tensor();
  return nn::gather_shares(share, e->spec, *tensor_, 0);
}

std::vector<std::pair<std::string, Tensor>> TensorParallel::share(const std::vector<std::pair<std::string, Tensor>>& whole) const {
  std::vector<std::pair<std::string, Tensor>> out;
  out.reserve(whole.size());
  for (const auto& [name, t] : whole) {
    const nn::ShardedParameter* e = entry(name);
    out.emplace_back(name, e ? nn::share_of(t, e->spec, tensor_->rank(), tensor_->size()) : t);
  }
  return out;
}

void TensorParallel::whole_weights(bool on) {
  if (on == whole_) return;
  whole_ = on;
  if (!on) {  // the shares back, as they were
    for (size_t i = 0; i < held_.size(); ++i) layers_[i]->replace(held_[i].first, held_[i].second);
    held_.clear();
    return;
  }
  if (data_->rank() != 0) return;  // another replica: the writer's group gathers
  // Every layer's whole weight and bias (a first-only bias is already whole), in plan order on
  // every process of the group, received by its process 0 only.
  const bool receives = tensor_->rank() == 0;
  std::vector<std::pair<Tensor, Tensor>> whole(layers_.size());
  for (size_t i = 0; i < layers_.size(); ++i) whole[i] = {layers_[i]->weight(), layers_[i]->bias()};
  for (const nn::ShardedParameter& p : plan_) {
    const size_t i = static_cast<size_t>(std::find(layers_.begin(), layers_.end(), p.layer) - layers_.begin());
    Tensor& dst = p.bias ? whole[i].second : whole[i].first;
    dst = nn::gather_shares(p.bias ? p.layer->bias() : p.layer->weight(), p.spec, *tensor_, 0);
  }
  if (!receives) return;
  for (size_t i = 0; i < layers_.size(); ++i) {
    held_.emplace_back(layers_[i]->weight(), layers_[i]->bias());
    layers_[i]->replace(whole[i].first, whole[i].second);
  }
}

double TensorParallel::squared_grad_norm(const std::vector<Tensor>& params) {
  // The split tensors (shares, and the first-only biases that process 0 alone trains) are parts of
  // the whole gradient; the rest is the same on every process of the group and counts once.
  std::vector<const autograd::AutogradMeta*> split;
  for (const nn::ShardedParameter& p : plan_) split.push_back((p.bias ? p.layer->bias() : p.layer->weight()).autograd_meta().get());
  double whole = 0, parts = 0;
  for (const Tensor& p : params) {
    const Tensor g = p.grad();
    if (!g.defined()) continue;
    const double s = kernels::sum_squares(g.data<float>(), g.numel());
    (std::find(split.begin(), split.end(), p.autograd_meta().get()) != split.end() ? parts : whole) += s;
  }
  tensor_->all_reduce_sum(&parts, 1);
  return whole + parts;
}

}  // namespace cornerstone::train
