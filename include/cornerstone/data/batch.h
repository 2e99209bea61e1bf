// Batch: what a model reads, as a set of named tensors.
//
// Text, image and encoder-decoder models share one training loop and one inference interface
// because their inputs are all "a few named tensors": a causal LM reads ids and targets, BERT
// adds segments and lengths, a classifier reads labels, a vision model pixels, a decoder with
// cross-attention the encoder's states. A family takes the names it understands and refuses a
// batch that lacks one it needs, naming it.
//
//   Batch b;
//   b.set(batch_keys::ids, ids).set(batch_keys::targets, targets);       // (B, T) i32 each
//   const Tensor& t = b.get(batch_keys::targets, "gpt");                 // throws if absent
//   if (b.has(batch_keys::segments)) ...
//
// Names are plain strings so that an objective can add its own (contrastive training puts the
// positives' ids under "positive.ids"); the well-known ones are below, with their shapes.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cornerstone/core/tensor.h"

namespace cornerstone::data {

namespace batch_keys {
inline constexpr std::string_view ids = "ids";                        // (B, T) i32 token ids, right-padded
inline constexpr std::string_view lengths = "lengths";                // (B) i32 real lengths (absent: all T)
inline constexpr std::string_view segments = "segments";              // (B, T) i32 sentence A / B ids (encoders)
inline constexpr std::string_view targets = "targets";                // (B, T) i32 per-token targets, -1: no loss there
inline constexpr std::string_view labels = "labels";                  // (B) i32 one class per sequence (or image)
inline constexpr std::string_view pixels = "pixels";                  // (B, C, H, W) f32 normalised images
inline constexpr std::string_view encoder_states = "encoder_states";  // (B, S, C) f32 what cross-attention reads
inline constexpr std::string_view encoder_lengths = "encoder_lengths";  // (B) i32 real lengths of encoder_states
}  // namespace batch_keys

class Batch {
 public:
  // Sets (or replaces) a tensor; returns *this for chaining.
  Batch& set(std::string_view name, Tensor value);
  bool has(std::string_view name) const;
  // The tensor, or an undefined one when absent.
  const Tensor& operator[](std::string_view name) const;
  // The tensor; throws ValueError "<who>: the batch has no '<name>' (it has: ...)" when absent.
  const Tensor& get(std::string_view name, std::string_view who) const;
  // Removes a tensor (no-op when absent).
  void erase(std::string_view name);

  // Rows: the first dimension of ids, else of pixels, else of the first tensor (0 when empty).
  int64_t rows() const;
  // The names held, in insertion order.
  std::vector<std::string> names() const;
  bool empty() const { return items_.empty(); }

  // The tensors whose names start with `prefix`, under the rest of their name ("positive." +
  // "ids" -> "ids"): a batch inside a batch.
  Batch sub(std::string_view prefix) const;

 private:
  std::vector<std::pair<std::string, Tensor>> items_;
};

}  // namespace cornerstone::data
