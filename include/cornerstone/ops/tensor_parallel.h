// Megatron-LM's two conjugate ops (Shoeybi et al. 2019) for the tensor-parallel transformer
// block: between them, each process of a tensor-parallel group computes with its own share of the
// attention heads and MLP columns.
//
//   enter_tensor_parallel(x, g)   "f": the identity forward; its backward all-reduces dx over g.
//                                 Put before column-parallel linears: every process computes a
//                                 part of x's gradient (through its own weight rows).
//   leave_tensor_parallel(y, g)   "g": the forward all-reduces y over g (the partial sums of a
//                                 row-parallel linear); its backward is the identity.
//
// Both are differentiable ops on fp32 tensors; with a group of one they are the identity.
#pragma once

#include "cornerstone/core/tensor.h"
#include "cornerstone/dist/process_group.h"

namespace cornerstone::ops {

Tensor enter_tensor_parallel(const Tensor& x, dist::ProcessGroup& group);
Tensor leave_tensor_parallel(const Tensor& y, dist::ProcessGroup& group);

}  // namespace cornerstone::ops
