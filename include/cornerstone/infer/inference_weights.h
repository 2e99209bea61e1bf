// The weights of a decoder for inference, each resolved once: every matrix (token embedding,
// attention and MLP projections, LM head) packed in one weight format (infer/quant_linear.h), the
// vectors (norms, biases) and GPT-2's position table in f32. A tied LM head is the token embedding
// itself: one matrix, read by row for the embedding lookup and whole for the logits.
//
//   auto w = InferenceWeights::load("runs/gpt2");                    // as stored (f32 or quantized)
//   auto q = InferenceWeights::load("runs/gpt2", WeightFormat::Q8_0); // f32 weights quantized on load
//   auto m = InferenceWeights::from_model(model, WeightFormat::BF16);
//
// Copies share the weights (immutable once built).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "cornerstone/core/tensor.h"
#include "cornerstone/infer/quant_linear.h"
#include "cornerstone/models/gpt/decoder_config.h"
#include "cornerstone/models/gpt/gpt.h"
#include "cornerstone/ops/attention.h"

namespace cornerstone::infer {

struct DecoderLayerWeights {
  Tensor norm1_weight, norm1_bias;  // (C) f32; the biases only for LayerNorm (GPT-2)
  Tensor norm2_weight, norm2_bias;
  QuantLinear qkv;   // ((Hq + 2 Hkv) D, C): q, k and v heads fused
  QuantLinear proj;  // (C, Hq D)
  QuantLinear up;    // GPT-2: (F, C) fc; Llama: (2F, C) gate and up fused
  QuantLinear down;  // (C, F)
};

class InferenceWeights {
 public:
  InferenceWeights() = default;

  // The model's parameters, matrices converted to `format`.
  static InferenceWeights from_model(const models::GPT& model, WeightFormat format);
  // A model folder: plain (config.json + model.safetensors with F32 / BF16 / F16 tensors) or
  // quantized (infer/quantized_folder.h). `format` converts float weights while loading; quantized
  // folders load as stored and asking for another format is a ValueError. Throws IOError /
  // FormatError naming the file and tensor (missing, wrong shape, truncated blocks).
  static InferenceWeights load(const std::string& dir, std::optional<WeightFormat> format = std::nullopt);

  const models::DecoderConfig& config() const { return config_; }
  WeightFormat format() const { return format_; }
  const QuantLinear& token_embedding() const { return wte_; }  // (V, C)
  const Tensor& position_embedding() const { return wpe_; }     // (context, C) f32, GPT-2 only
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
  // Fills the weights from two sources: a matrix by parameter name (with the name of its bias,
  // empty if none) and an f32 vector / table by parameter name.
  template <class Matrix, class Vector>
  void build(const models::DecoderConfig& cfg, WeightFormat format, Matrix&& matrix, Vector&& vector);

  models::DecoderConfig config_;
  WeightFormat format_ = WeightFormat::F32;
  QuantLinear wte_, lm_head_;
  Tensor wpe_;
  std::vector<DecoderLayerWeights> layers_;
  Tensor norm_f_weight_, norm_f_bias_;
  ops::RopeCache rope_;
};

}  // namespace cornerstone::infer
