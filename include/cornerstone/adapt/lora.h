// LoRA: low-rank adaptation of a frozen model (Hu et al., 2021).
//
// A targeted linear layer W gets an adapter: y = W x + (alpha / r) B A x, with A (r, in) drawn
// uniformly in +-1/sqrt(in) and B (out, r) zero, so training starts exactly at the base model.
// Only A and B train; the base is frozen and has no optimizer state. On Cornerstone's fused
// projections (qkv of Llama, gate_up) each Hugging Face projection (q_proj, k_proj, ...) is its
// own slice of output rows with its own A and B, exactly as PEFT adapts the separate layers.
//
//   LoRAConfig cfg;  cfg.rank = 8;  cfg.alpha = 16;  cfg.targets = {"c_attn"};   // or q_proj, v_proj, "all-linear"
//   apply_lora(model, cfg, /*seed=*/1);     // freezes the base, attaches adapters
//   ... train model.trainable_parameters() ...
//   save_peft(model, cfg, "out/", "runs/base");   // adapter_config.json + adapter_model.safetensors
//   merge_lora(model);                      // W += (alpha / r) B A; the adapters stop contributing
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "cornerstone/core/rng.h"
#include "cornerstone/infer/lora_deltas.h"
#include "cornerstone/models/pretrained.h"
#include "cornerstone/nn/layers.h"

namespace cornerstone::adapt {

struct LoRAConfig {
  int64_t rank = 8;
  float alpha = 16.0f;
  float dropout = 0.0f;
  // Hugging Face module names (c_attn, c_proj, c_fc, q_proj, k_proj, v_proj, o_proj, gate_proj,
  // up_proj, down_proj; BERT's query, key, value, dense, attention.output.dense, intermediate.dense,
  // output.dense) or their endings, Cornerstone's (qkv, proj, fc, gate_up, down), or the groups
  // "attn", "mlp", "all-linear".
  std::vector<std::string> targets = {"attn"};
  DType base_storage = DType::F32;  // the frozen base: f32, bf16 or q8_0

  float scale() const { return alpha / static_cast<float>(rank); }
  void validate() const;  // throws ValueError naming the field
};

// The adapter on one Linear layer: one (A, B) pair per adapted slice of its output rows.
class LoRAAdapter : public nn::LinearAdapter {
 public:
  struct Slice {
    std::string hf_name;    // the Hugging Face module this slice is, e.g. "model.layers.0.self_attn.q_proj"
    std::string hf_module;  // its path inside the layer, e.g. "self_attn.q_proj"
    int64_t row_begin, row_end;
    Tensor A;  // (r, in)
    Tensor B;  // (row_end - row_begin, r)
  };

  LoRAAdapter(int64_t in_features, const std::vector<Slice>& slices, const LoRAConfig& cfg, Rng& rng);
  Tensor apply(const Tensor& x, const Tensor& y) const override;

  const std::vector<Slice>& slices() const { return slices_; }
  float scale() const { return scale_; }
  bool merged() const { return merged_; }
  // Dropout on the adapter's input draws from this generator in training mode.
  void set_dropout_rng(Rng* rng) { rng_ = rng; }

  // W[rows] += sign * scale * B A for every slice (sign +1 merges, -1 unmerges).
  void fold_into(Tensor& weight, float sign);
  void set_merged(bool m) { merged_ = m; }

 private:
  std::vector<Slice> slices_;
  float scale_, dropout_;
  bool merged_ = false;
  Rng* rng_ = nullptr;
};

// Attaches adapters to every targeted layer and freezes all other parameters (the embeddings,
// norms and base weights). Returns the number of adapted slices; throws ValueError when a target
// matches nothing, listing the names that exist.
int64_t apply_lora(models::PretrainedModel& model, const LoRAConfig& cfg, uint64_t seed);

// Adds (merge) or subtracts (unmerge) every adapter's B A into its base weight. A merged model's
// adapters no longer contribute to forward(), so outputs are unchanged by merging.
void merge_lora(models::PretrainedModel& model);
void unmerge_lora(models::PretrainedModel& model);
// Merges and removes the adapters: a plain model again.
void bake_lora(models::PretrainedModel& model);

// Switches every (unmerged) adapter off, so that the model computes its base's outputs exactly,
// or back on; the weights are not touched (grpo's reference under LoRA).
void set_lora_active(models::PretrainedModel& model, bool active);

// Sets the dropout generator of every adapter.
void set_lora_dropout_rng(models::PretrainedModel& model, Rng* rng);

// The model's unmerged adapters as terms of the inference runner's projections (infer/lora_deltas.h),
// for serving them over a shared copy of the base: the same function as merge_lora() then
// InferenceWeights::from_model(). UnsupportedError for a model the runner does not run or an
// adapter on a layer outside its decoder blocks; ValueError when the model has no unmerged adapter.
infer::LoRADeltas lora_deltas(const models::PretrainedModel& model);

// PEFT's layout: DIR/adapter_config.json and DIR/adapter_model.safetensors with tensors named
// base_model.model.<hf module>.lora_A.weight (r, in) / .lora_B.weight (out, r).
void save_peft(const models::PretrainedModel& model, const LoRAConfig& cfg, const std::string& dir, const std::string& base_model,
               const std::string& task_type = "CAUSAL_LM");
// Reads DIR's adapter_config.json, attaches adapters to `model` accordingly and loads their
// weights. Throws FormatError naming the file and the tensor or key.
LoRAConfig load_peft(models::PretrainedModel& model, const std::string& dir);

}  // namespace cornerstone::adapt
