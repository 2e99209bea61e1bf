// `--tensor-parallel K` (Megatron-LM style, nn/tensor_parallel.h) under `mpirun -np N`: the N
// processes form N / K model replicas of K consecutive ranks each. The K processes of a replica
// (its tensor group) each hold a share of every block's attention heads and MLP columns and read
// the same rows of every batch; the replicas train data parallel, each process's gradients
// all-reduced with the processes holding the same shares (its data group: ranks t, t + K, ...).
//
//   TensorParallel tp(K);                    // collective: splits the world into the groups
//   tp.shard(model);                         // after any weights are loaded into the whole model
//   ... ProcessGroupSync over tp.data_group(), LoopParts::shards = &tp
//
// Checkpoints hold whole tensors: for every write the layers' shares are gathered on the writer
// (whole_weights), the moments one at a time as the file is written, and a resumed run takes its
// share of the whole moments.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "cornerstone/dist/process_group.h"
#include "cornerstone/models/pretrained.h"
#include "cornerstone/nn/tensor_parallel.h"
#include "cornerstone/train/parameter_shards.h"

namespace cornerstone::train {

class TensorParallel final : public ParameterShards {
 public:
  // Collective over the world; `size` must divide the number of processes.
  explicit TensorParallel(int64_t size);
  int64_t size() const { return tensor_->size(); }
  int64_t rank() const { return tensor_->rank(); }
  dist::ProcessGroup& tensor_group() { return *tensor_; }
  dist::ProcessGroup& data_group() { return *data_; }

  // Splits the model's blocks over the tensor group (after its whole weights are in place).
  void shard(models::PretrainedModel& model);
  const nn::TensorParallelPlan& plan() const { return plan_; }

  std::vector<io::TensorLayout> whole_layout(const std::vector<std::pair<std::string, Tensor>>& shares) const override;
  Tensor gather_for_writer(const std::string& name, const Tensor& share) override;
  std::vector<std::pair<std::string, Tensor>> share(const std::vector<std::pair<std::string, Tensor>>& whole) const override;
  void whole_weights(bool on) override;
  double squared_grad_norm(const std::vector<Tensor>& params) override;

 private:
  // The plan entry of a parameter or of one of its moments, or null.
  const nn::ShardedParameter* entry(const std::string& name) const;
  std::unique_ptr<dist::ProcessGroup> tensor_, data_;
  nn::TensorParallelPlan plan_;
  std::unordered_map<std::string, size_t> by_name_;
  // whole_weights(true) on the writer: each layer's shares (weight, bias)
  std::vector<std::pair<Tensor, Tensor>> held_;
  bool whole_ = false;  // between whole_weights(true) and whole_weights(false)
  std::vector<nn::Linear*> layers_;               // the split layers, once each
};

}  // namespace cornerstone::train
