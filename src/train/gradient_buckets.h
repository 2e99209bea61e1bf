// The reduction of data parallelism's gradients during the backward pass (ProcessGroupSync's
// engine; train/data_parallel.h says what it computes).
//
// The parameters' elements laid end to end are cut into buckets of at most `bucket_floats`
// elements, from the last parameter back: consecutive whole parameters, or pieces of one larger
// parameter (so that MPI's own temporary buffers stay bucket-sized too). A bucket is complete when
// the backward pass has reported each parameter it touches (autograd's leaf_ready); complete buckets start their
// collective in bucket order, the same order in every process whatever the pass's timing, and
// every node of the pass polls the collectives in flight (MPI moves data inside MPI calls).
// backward_done() starts the buckets still waiting (a parameter the pass never reached counts as a
// zero gradient) and waits for all. At most two buckets are in flight: a third waits for the oldest.
//
//   all-reduce       (data parallel, ZeRO-1) in the step's last pass: each bucket's gradients are
//                    summed over the processes and divided by their number, back into .grad.
//   reduce-scatter   (ZeRO-2) in every pass: each bucket is a contiguous range of the flat
//                    elements, so the processes' parts of it follow one another; each process
//                    adds the sums of its part into the shard, and a parameter's .grad is
//                    dropped as soon as its last bucket starts.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <unordered_map>
#include <vector>

#include "cornerstone/autograd/graph.h"
#include "cornerstone/dist/process_group.h"
#include "cornerstone/train/data_parallel.h"

namespace cornerstone::train {

class GradientBuckets final : public autograd::BackwardObserver {
 public:
  enum class Mode { AllReduce, ReduceScatter };
  GradientBuckets(const std::vector<Tensor>& params, Mode mode, size_t bucket_floats, dist::ProcessGroup& group);

  // True when built for these parameters (the same tensors in the same order).
  bool serves(const std::vector<Tensor>& params) const;
  // Before a pass. `first` (reduce-scatter): the step's first pass, which clears the shard.
  void begin_pass(bool first);
  void leaf_ready(autograd::AutogradMeta& leaf) override;
  void node_done() override;
  void backward_done() override;

  // True from backward_done() to the next begin_pass(): this step's gradients were reduced.
  bool reduced() const { return reduced_; }
  // Parameters some pass of this step reached in this process (a .grad existed at its bucket's start).
  const std::vector<uint8_t>& reached_here() const { return reached_; }
  GradientShard& shard() { return shard_; }
  double seconds() const { return seconds_; }

 private:
  struct Bucket {
    int64_t begin, end;            // elements, laid end to end
    size_t first, last;            // the parameters they belong to: [first, last)
    std::vector<int64_t> counts;   // reduce-scatter: each process's part of [begin, end)
  };
  struct InFlight {
    size_t bucket;
    dist::Request request;
    Tensor held;            // the buffer the collective reads (and all-reducing, writes): a copy, or the
    float* data = nullptr;  // parameter's own .grad when the bucket lies within one parameter
    bool in_place = false;  // `data` points into the parameter's .grad
    Tensor recv;            // reduce-scatter: this process's sums
  };
  static constexpr size_t kMaxInFlight = 2;
  void start_ready();
  void start(size_t b);
  void finish(InFlight& f);

  std::vector<Tensor> params_;
  std::vector<int64_t> offset_;   // each parameter's first flat element
  std::unordered_map<const autograd::AutogradMeta*, size_t> index_;
  std::vector<Bucket> buckets_;
  std::vector<std::vector<size_t>> buckets_of_;  // per parameter: the buckets touching it
  std::vector<size_t> unstarted_;                // per parameter: its buckets not started this pass
  Mode mode_;
  dist::ProcessGroup& group_;
  std::vector<size_t> ready_;    // per bucket: parameters reported this pass
  std::vector<uint8_t> seen_;    // per parameter: reported this pass
  size_t next_ = 0;              // the next bucket to start
  std::deque<InFlight> in_flight_;
  std::vector<uint8_t> reached_;
  GradientShard shard_;
  bool reduced_ = false;
  double seconds_ = 0;
};

}  // namespace cornerstone::train
