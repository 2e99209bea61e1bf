// The attention layers of a transformer block.
//
//   SelfAttention   x (B, T, C) -> (B, T, C): fused qkv projection, fused attention kernel
//                   (causal or bidirectional, GQA, optional RoPE), output projection.
//                   Parameters qkv.{weight,bias} ([q heads | k heads | v heads] rows), proj.*.
//   CrossAttention  x (B, T, C) and encoder states (B, S, C_enc) -> (B, T, C): queries from x,
//                   keys and values from the states through their own projection, every query
//                   seeing every real encoder position. Parameters q.*, kv.* ([k heads | v heads]
//                   rows), proj.*.
#pragma once

#include <memory>

#include "cornerstone/core/rng.h"
#include "cornerstone/dist/process_group.h"
#include "cornerstone/nn/block_config.h"
#include "cornerstone/nn/layers.h"
#include "cornerstone/nn/tensor_parallel.h"
#include "cornerstone/ops/attention.h"

namespace cornerstone::nn {

class SelfAttention : public Module {
 public:
  SelfAttention(const BlockConfig& cfg, Rng& rng);
  // key_lengths: (B) real lengths of a right-padded batch (bidirectional only), or undefined.
  Tensor forward(const Tensor& x, const ops::RopeCache* rope, const Tensor& key_lengths = Tensor()) const;
  bool causal() const { return cfg_.causal; }
  Linear& qkv() const { return *qkv_; }    // fused [q heads | k heads | v heads] projection
  Linear& proj() const { return *proj_; }  // output projection
  // Tensor parallelism (nn/tensor_parallel.h): keeps process `rank`'s share of the heads (query
  // and key/value heads both split over the group); returns the split parameters, named from here.
  TensorParallelPlan shard(dist::ProcessGroup& group);

 private:
  BlockConfig cfg_;
  std::shared_ptr<Linear> qkv_, proj_;
  dist::ProcessGroup* group_ = nullptr;  // tensor parallel: the group sharing the heads
};

class CrossAttention : public Module {
 public:
  CrossAttention(const BlockConfig& cfg, Rng& rng);
  // encoder_lengths: (B) real lengths of a right-padded batch of encoder states, or undefined.
  Tensor forward(const Tensor& x, const Tensor& encoder_states, const Tensor& encoder_lengths = Tensor()) const;
  Linear& q() const { return *q_; }        // (Hq D, C)
  Linear& kv() const { return *kv_; }      // (2 Hkv D, C_enc): [k heads | v heads]
  Linear& proj() const { return *proj_; }  // (C, Hq D)

 private:
  BlockConfig cfg_;
  std::shared_ptr<Linear> q_, kv_, proj_;
};

}  // namespace cornerstone::nn
