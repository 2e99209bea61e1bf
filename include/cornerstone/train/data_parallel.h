// Data parallelism's two seams in the training engine, single-process today (world = 1):
//
//   Shard          which share of a step's global batch this process draws. With B rows per
//                  process and W processes, a micro-batch is the global batch of W x B rows and
//                  process `rank` takes rows [rank x B, (rank + 1) x B). The samplers key every
//                  row by its global index (step, micro, rank x B + r), so 4 processes of batch B
//                  draw exactly the examples one process of batch 4 B would, and a run can be
//                  resumed on another number of processes with the same data order.
//   GradientSync   called once per step, after the last micro-batch's backward and before
//                  clipping: every process's gradients become their mean over the processes
//                  (ProcessGroupSync: bucketed all-reduces over dist/'s process group, under
//                  `mpirun -np N`). The single-process LocalGradientSync does nothing and costs
//                  nothing. It also makes the processes agree: a stop asked of one (Ctrl-C, the
//                  time budget) stops all at the same step, and only process 0 writes.
//
//   LocalGradientSync sync;                   // world = 1
//   BatchSampler s(data, B, T, seed, sync.shard());
//   ... backward of each micro-batch ...
//   sync.reduce(params);                      // then clip_grad_norm, optimizer.step
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "cornerstone/core/tensor.h"

namespace cornerstone::train {

struct Shard {
  int64_t rank = 0;   // this process, in [0, world)
  int64_t world = 1;  // processes sharing each step

  // The global index of this process's first row when each process draws `rows` rows.
  int64_t first_row(int64_t rows) const { return rank * rows; }
};

class GradientSync {
 public:
  virtual ~GradientSync() = default;
  virtual Shard shard() const = 0;
  // In place: each parameter's gradient becomes the mean of that gradient over the processes.
  virtual void reduce(const std::vector<Tensor>& params) = 0;
  // The mean of a per-process number over the processes (the logged loss of a step).
  virtual double mean(double local) = 0;
  // True on every process when `local` is true on any.
  virtual bool any(bool local) { return local; }
  // Process 0's value on every process (a decision taken by one clock: the time budget's).
  virtual int64_t from_first(int64_t value) { return value; }
  // Seconds spent communicating so far (0 for one process).
  virtual double comm_seconds() const { return 0; }
  // The process that writes logs, checkpoints and the final model.
  bool writer() const { return shard().rank == 0; }
};

// One process: nothing to reduce.
class LocalGradientSync final : public GradientSync {
 public:
  Shard shard() const override;
  void reduce(const std::vector<Tensor>& params) override;
  double mean(double local) override;
};

// The processes of dist::ProcessGroup::world() (mpirun). Gradients are summed in buckets of
// about `bucket_bytes` (copied into one buffer per bucket: one all-reduce per bucket instead of
// one per tensor), then divided by the world size.
class ProcessGroupSync final : public GradientSync {
 public:
  explicit ProcessGroupSync(size_t bucket_bytes = size_t{32} << 20);
  Shard shard() const override;
  void reduce(const std::vector<Tensor>& params) override;
  double mean(double local) override;
  bool any(bool local) override;
  int64_t from_first(int64_t value) override;
  // Seconds spent in the gradient all-reduces so far (the communication share of the steps).
  double comm_seconds() const override { return comm_seconds_; }

 private:
  size_t bucket_floats_;
  std::vector<float> buffer_;
  double comm_seconds_ = 0;
};

// A ProcessGroupSync when this process is one of several (mpirun -np N, N > 1), else null.
std::unique_ptr<GradientSync> make_gradient_sync();

}  // namespace cornerstone::train
