// Tensor parallelism (Megatron-LM, Shoeybi et al. 2019): the processes of a group of `size` each
// hold a share of every transformer block's attention heads and MLP columns.
//
//   attention   qkv: column-parallel (process r keeps its heads' rows of q, of k and of v);
//               proj: row-parallel (the same heads' columns), partial outputs summed over the group
//   MLP         fc / gate_up: column-parallel (its share of the d_ff columns, of gate and of up);
//               proj / down: row-parallel
//
// A block enters the group with ops::enter_tensor_parallel (backward: dx summed) and leaves it with
// ops::leave_tensor_parallel (forward: y summed): two all-reduces per half-block and pass.
// Everything else (embeddings, norms, the LM head, row-parallel biases) stays whole on every
// process. A row-parallel bias is added, and so trained, by process 0 of the group only.
//
// The plan names every shared parameter and how it was split, so that checkpoints can hold whole
// tensors (gather_shares) and be read back at any process count (share_of).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "cornerstone/core/tensor.h"
#include "cornerstone/dist/process_group.h"

namespace cornerstone::nn {

class Linear;

// How one parameter is split over a group of `size` processes.
struct ShardSpec {
  int dim = 0;                    // 0: rows (column-parallel layers), 1: columns (row-parallel)
  std::vector<int64_t> sections;  // the whole extent along `dim` in sections, each split evenly: qkv's q, k, v
  bool first_only = false;        // whole on every process; process 0's is the trained one (row-parallel biases)
};

struct ShardedParameter {
  std::string name;            // the parameter's full name ("blocks.3.attn.qkv.weight")
  ShardSpec spec;
  Linear* layer = nullptr;     // the layer holding it
  bool bias = false;           // the layer's bias (else its weight)
};
using TensorParallelPlan = std::vector<ShardedParameter>;

// The row ranges [lo, hi) of process `rank`'s share along a spec's dim, end to end.
std::vector<std::pair<int64_t, int64_t>> share_ranges(const ShardSpec& spec, int64_t rank, int64_t size);
// Process `rank`'s share of a whole tensor (a copy).
Tensor share_of(const Tensor& whole, const ShardSpec& spec, int64_t rank, int64_t size);
// The shape of the whole tensor that a share of `share_shape` is part of (first_only: the same).
Shape whole_shape(const Shape& share_shape, const ShardSpec& spec, int64_t size);
// The whole tensor from every process's share: collective over `group` (first_only: this
// process's own tensor, which is the whole on process 0). With a `root`, only that process of the
// group receives it (the others return an undefined tensor and hold no whole copy).
Tensor gather_shares(const Tensor& share, const ShardSpec& spec, dist::ProcessGroup& group, int root = -1);

}  // namespace cornerstone::nn
