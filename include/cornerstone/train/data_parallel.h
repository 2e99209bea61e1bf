// Data parallelism's two seams in the training engine, single-process today (world = 1):
//
//   Shard          which share of a step's global batch this process draws. With B rows per
//                  process and W processes, a micro-batch is the global batch of W x B rows and
//                  process `rank` takes rows [rank x B, (rank + 1) x B). The samplers key every
//                  row by its global index (step, micro, rank x B + r), so 4 processes of batch B
//                  draw exactly the examples one process of batch 4 B would, and a run can be
//                  resumed on another number of processes with the same data order.
//   GradientSync   every process's gradients become their mean over the processes before
//                  clipping (ProcessGroupSync: bucketed collectives over dist/'s process group,
//                  under `mpirun -np N`, started during the last micro-batch's backward pass as
//                  the buckets' gradients become complete, and finished by reduce()). The
//                  single-process LocalGradientSync does nothing and costs nothing. It also makes
//                  the processes agree: a stop asked of one (Ctrl-C, the time budget) stops all at
//                  the same step, and only process 0 writes.
//
//   LocalGradientSync sync;                   // world = 1
//   BatchSampler s(data, B, T, seed, sync.shard());
//   for each micro-batch m of M:
//     autograd::ObserveBackward watch(sync.backward_observer(params, m, M));
//     loss.backward();
//   sync.reduce(params);                      // then clip_grad_norm, optimizer.step
//
// ZeRO-2 (partition_gradients()): the buckets are reduce-scattered during every micro-batch's
// backward, each process adds its range of the sums into its GradientShard and drops the whole
// gradients at once, so no process ever holds every gradient; the optimizer then reads the shard.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "cornerstone/autograd/graph.h"
#include "cornerstone/core/tensor.h"
#include "cornerstone/dist/process_group.h"

namespace cornerstone::train {

struct Shard {
  int64_t rank = 0;   // this process, in [0, world)
  int64_t world = 1;  // processes sharing each step

  // The global index of this process's first row when each process draws `rows` rows.
  int64_t first_row(int64_t rows) const { return rank * rows; }
};

// The parameters' elements laid end to end (in the optimizer's order) and split into `world`
// equal ranges: process r holds [total x r / world, total x (r + 1) / world). ZeRO-1 partitions the
// AdamW moments so, ZeRO-2 the gradients too.
inline int64_t range_begin(int64_t total, int64_t rank, int64_t world) { return total * rank / world; }

// ZeRO-2's gradients: this process's range [begin, end) of the elements, summed over every
// process's backward passes and divided by the number of processes. reached[k]: some process's
// backward reached parameter k (the optimizer skips the others, as one process skips a parameter
// without .grad).
struct GradientShard {
  int64_t begin = 0, end = 0;
  Tensor values;                 // 1-D fp32, end - begin elements
  std::vector<uint8_t> reached;  // per parameter
};

class GradientSync {
 public:
  virtual ~GradientSync() = default;
  virtual Shard shard() const = 0;
  // The observer to install for micro-batch m's backward pass (of `micros`), which may reduce
  // gradients as they become complete; null: reduce() does everything.
  virtual autograd::BackwardObserver* backward_observer(const std::vector<Tensor>&, int64_t /*m*/, int64_t /*micros*/) { return nullptr; }
  // After the step's last backward: each parameter's gradient becomes the mean of that gradient
  // over the processes (in place), or, under ZeRO-2, gradient_shard() holds this process's range
  // of the means and the parameters have no .grad.
  virtual void reduce(const std::vector<Tensor>& params) = 0;
  // ZeRO-2 from now on (several processes only).
  virtual void partition_gradients();
  virtual GradientShard* gradient_shard() { return nullptr; }
  // The mean of a per-process number over the processes (the logged loss of a step).
  virtual double mean(double local) = 0;
  // True on every process when `local` is true on any.
  virtual bool any(bool local) { return local; }
  // Process 0's value on every process (a decision taken by one clock: the time budget's).
  virtual int64_t from_first(int64_t value) { return value; }
  // Seconds spent communicating so far (0 for one process).
  virtual double comm_seconds() const { return 0; }
  // The process that writes logs, checkpoints and the final model.
  virtual bool writer() const { return shard().rank == 0; }
};

// One process: nothing to reduce.
class LocalGradientSync final : public GradientSync {
 public:
  Shard shard() const override;
  void reduce(const std::vector<Tensor>& params) override;
  double mean(double local) override;
};

class GradientBuckets;

// The processes of dist::ProcessGroup::world() (mpirun). Gradients are summed in buckets of
// about `bucket_bytes`: consecutive parameters, from the last (whose gradients the backward pass
// completes first), copied into one buffer per bucket (one collective per bucket instead of one
// per tensor). A bucket's collective starts as soon as its last gradient is complete, while the
// backward pass goes on, and reduce() waits for the rest; the sums are divided by the world size.
//
// `group`: the processes that share each batch (the data-parallel group): the world, or under
// tensor parallelism the processes holding the same shards. Decisions (stop, the time budget)
// and the writer are the world's.
class ProcessGroupSync final : public GradientSync {
 public:
  explicit ProcessGroupSync(size_t bucket_bytes = size_t{32} << 20, dist::ProcessGroup* group = nullptr);
  ~ProcessGroupSync() override;
  Shard shard() const override;
  bool writer() const override;
  autograd::BackwardObserver* backward_observer(const std::vector<Tensor>& params, int64_t m, int64_t micros) override;
  void reduce(const std::vector<Tensor>& params) override;
  void partition_gradients() override;
  GradientShard* gradient_shard() override;
  double mean(double local) override;
  bool any(bool local) override;
  int64_t from_first(int64_t value) override;
  // Seconds spent communicating gradients so far: starting, polling and finishing the buckets'
  // collectives (the communication share of the steps).
  double comm_seconds() const override;

 private:
  dist::ProcessGroup& group_;
  size_t bucket_floats_;
  bool partition_gradients_ = false;
  std::unique_ptr<GradientBuckets> buckets_;  // built by the first observed pass
  double comm_seconds_ = 0;
};

// ZeRO-2: clips the shard's gradients so that the global norm over every process's shard is at
// most max_norm (<= 0: no clipping); returns the norm before clipping.
double clip_grad_norm(GradientShard& shard, double max_norm, GradientSync& sync);

// A ProcessGroupSync when this process is one of several (mpirun -np N, N > 1), else null.
// `data_group`: the processes that share batches (default: the world); `bucket_mb`: the size of
// the gradient buckets (more, smaller ones start sooner; fewer, larger ones cost less latency).
std::unique_ptr<GradientSync> make_gradient_sync(dist::ProcessGroup* data_group = nullptr, double bucket_mb = 32);

}  // namespace cornerstone::train
