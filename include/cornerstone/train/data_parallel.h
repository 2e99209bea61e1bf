// Data parallelism's two seams in the training engine, single-process today (world = 1):
//
//   Shard          which share of a step's global batch this process draws. With B rows per
//                  process and W processes, a micro-batch is the global batch of W x B rows and
//                  process `rank` takes rows [rank x B, (rank + 1) x B). The samplers key every
//                  row by its global index (step, micro, rank x B + r), so 4 processes of batch B
//                  draw exactly the examples one process of batch 4 B would, and a run can be
//                  resumed on another number of processes with the same data order.
//   GradientSync   called once per step, after the last micro-batch's backward and before
//                  clipping: every process's gradients become their mean over the processes (an
//                  all-reduce over dist/'s process group when it lands). The single-process
//                  LocalGradientSync does nothing and costs nothing.
//
//   LocalGradientSync sync;                   // world = 1
//   BatchSampler s(data, B, T, seed, sync.shard());
//   ... backward of each micro-batch ...
//   sync.reduce(params);                      // then clip_grad_norm, optimizer.step
#pragma once

#include <cstdint>
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
};

// One process: nothing to reduce.
class LocalGradientSync final : public GradientSync {
 public:
  Shard shard() const override;
  void reduce(const std::vector<Tensor>& params) override;
  double mean(double local) override;
};

}  // namespace cornerstone::train
