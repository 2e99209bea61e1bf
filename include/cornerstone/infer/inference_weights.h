// The weights of a decoder stack for inference (models/decoder_stack.h), each resolved once:
// every matrix (token embedding, attention and MLP projections, LM head) packed in one weight
// format (infer/quant_linear.h), the vectors (norms, biases) and a learned position table in f32.
// A tied LM head is the token embedding itself: one matrix, read by row for the embedding lookup
// and whole for the logits.
//
//   auto w = InferenceWeights::load("runs/gpt2");                    // as stored (f32 or quantized)
//   auto q = InferenceWeights::load("runs/gpt2", WeightFormat::Q8_0); // f32 weights quantized on load
//   auto m = InferenceWeights::from_model(model, WeightFormat::BF16);
//
// Nothing here names a family: the model's config describes its stack (norm kind, MLP kind,
// learned or rotary positions, tied head, parameter names), and a quantized folder's tensors are
// found through its family's Hugging Face table (ModelConfig::hf_tensors()).
// Copies share the weights (immutable once built).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "cornerstone/core/tensor.h"
#include "cornerstone/infer/quant_linear.h"
#include "cornerstone/models/decoder_stack.h"
#include "cornerstone/models/pretrained.h"
#include "cornerstone/ops/attention.h"

namespace cornerstone::infer {

struct DecoderLayerWeights {
  Tensor norm1_weight, norm1_bias;  // (C) f32; the biases only where the model has them (LayerNorm)
  Tensor norm2_weight, norm2_bias;
  QuantLinear qkv;   // ((Hq + 2 Hkv) D, C): q, k and v heads fused
  QuantLinear proj;  // (C, Hq D)
  QuantLinear up;    // GELU MLP: (F, C) fc; SwiGLU: (2F, C) gate and up fused
  QuantLinear down;  // (C, F)
};

class InferenceWeights {
 public:
  InferenceWeights() = default;

  // The parameters of a model whose config describes a decoder stack (ModelConfig::
  // decoder_stack()), matrices converted to `format`. UnsupportedError for any other model, or a
  // stack the runner does not run (post-norm, bidirectional, cross-attention, non-MLP feed-forward).
  static InferenceWeights from_model(const models::PretrainedModel& model, WeightFormat format);
  // A model folder: plain (config.json + model.safetensors with F32 / BF16 / F16 tensors) or
  // quantized (infer/quantized_folder.h). `format` converts float weights while loading; quantized
  // folders load as stored and asking for another format is a ValueError. Throws IOError /
  // FormatError naming the file and tensor (missing, wrong shape, truncated blocks).
  static InferenceWeights load(const std::string& dir, std::optional<WeightFormat> format = std::nullopt);

  const models::DecoderStack& config() const { return stack_; }
  WeightFormat format() const { return format_; }
  const QuantLinear& token_embedding() const { return wte_; }  // (V, C)
  const Tensor& position_embedding() const { return wpe_; }     // (context, C) f32; learned positions only
  const std::vector<DecoderLayerWeights>& layers() const { return layers_; }
  const Tensor& norm_f_weight() const { return norm_f_weight_; }
  const Tensor& norm_f_bias() const { return norm_f_bias_; }
  const QuantLinear& lm_head() const { return lm_head_; }  // the token embedding when tied
  const ops::RopeCache* rope() const { return rope_.defined() ? &rope_ : nullptr; }

  // Weight bytes one decode step reads: every layer's matrices and the LM head (the roofline's
  // denominator). total_bytes() adds the embedding table when untied and the f32 vectors.
  size_t decode_bytes() const;
  size_t total_bytes() const;

 private:
  // Fills the weights from two sources by parameter name: a matrix (with the name of its bias,
  // used when the source has it) and an f32 vector / table (undefined when the source has none).
  template <class Matrix, class Vector>
  void build(const models::DecoderStack& stack, WeightFormat format, Matrix&& matrix, Vector&& vector);

  models::DecoderStack stack_;
  WeightFormat format_ = WeightFormat::F32;
  QuantLinear wte_, lm_head_;
  Tensor wpe_;
  std::vector<DecoderLayerWeights> layers_;
  Tensor norm_f_weight_, norm_f_bias_;
  ops::RopeCache rope_;
};

}  // namespace cornerstone::infer
