// PretrainedModel: what every model family offers the layers above it (pretraining checkpoints,
// adaptation, LoRA, embeddings), so that those layers have one code path for decoders (models/gpt.h)
// and encoders (models/bert.h).
//
//   Hugging Face I/O   model_type(), hf_config(), hf_state_dict(), load_hf_state_dict(): the
//                      family's config.json and tensor names (models/load.h writes the folders)
//   sequences          hidden_states() of right-padded batches, sequence_features() for
//                      classification heads
//   linear sites       every nn::Linear of the blocks with its Hugging Face module names: where
//                      LoRA adapters go (adapt/lora.h)
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "cornerstone/core/rng.h"
#include "cornerstone/nn/layers.h"
#include "cornerstone/nn/module.h"

namespace cornerstone::models {

// One Hugging Face projection inside a (possibly fused) Linear: a range of its output rows.
struct LinearSlice {
  std::string hf_leaf;    // "q_proj", "c_attn", "query", "dense"
  std::string hf_module;  // the module path inside its layer: "self_attn.q_proj", "attention.output.dense"
  std::string hf_name;    // the full module name: "model.layers.0.self_attn.q_proj"
  int64_t row_begin, row_end;
};

// A Linear layer of a block with the Hugging Face projections it holds.
struct LinearSite {
  nn::Linear* layer;
  std::string our_leaf;  // Cornerstone's name: qkv, proj, fc, gate_up, down
  std::string group;     // "attn" or "mlp"
  std::vector<LinearSlice> slices;
};

// Returns a tensor by Hugging Face name, or an undefined tensor when the source has none.
using TensorSource = std::function<Tensor(const std::string&)>;

class PretrainedModel : public nn::Module {
 public:
  // config.json's model_type: "gpt2", "llama", "bert".
  virtual std::string model_type() const = 0;
  // Bidirectional encoder (BERT) rather than a causal decoder.
  virtual bool is_encoder() const = 0;
  virtual int64_t hidden_size() const = 0;
  virtual int64_t max_positions() const = 0;  // the longest sequence the model accepts
  virtual float init_std() const = 0;         // the initialisation scale, also used for new heads

  virtual nlohmann::json hf_config() const = 0;
  // Every weight under its Hugging Face name and layout (new contiguous tensors).
  virtual std::vector<std::pair<std::string, Tensor>> hf_state_dict() const = 0;
  // Copies Hugging Face-named tensors into the model. Throws FormatError naming a missing tensor
  // or a shape mismatch; `optional` names may be absent (they keep their initial values).
  virtual void load_hf_state_dict(const TensorSource& get, const std::string& source) = 0;

  // ids (B, T) i32 right-padded, lengths (B) i32 the real lengths (undefined: all T), segments
  // (B, T) i32 the segment ids of sentence pairs (encoders only; undefined: all 0) -> hidden states
  // (B, T, C) after the model's last norm. Padding never changes the real positions' states.
  virtual Tensor hidden_states(const Tensor& ids, const Tensor& lengths, const Tensor& segments,
                               Rng* dropout_rng = nullptr) const = 0;
  // What a sequence classification head reads, (B, C): the last real token's state for a decoder,
  // the pooler's output on [CLS] for BERT.
  virtual Tensor sequence_features(const Tensor& hidden, const Tensor& lengths) const = 0;
  // The parameters sequence_features() adds on top of the hidden states (BERT's pooler), under
  // their Hugging Face names (the tensors themselves, not copies); none for a decoder. Masked-LM
  // pretraining leaves the pooler untrained, so a classification head trains it in every mode.
  virtual std::vector<std::pair<std::string, Tensor>> feature_head() const { return {}; }

  virtual std::vector<LinearSite> linear_sites() const = 0;
  // Recompute block activations in the backward pass instead of keeping them.
  virtual void set_checkpoint_activations(bool on) = 0;
};

// The real lengths of a batch of B sequences padded to T: `lengths` (B) i32 checked to lie in
// [1, T], or all T when undefined. Throws ShapeError / ValueError naming `op` and the sequence.
std::vector<int32_t> checked_lengths(int64_t B, int64_t T, const Tensor& lengths, const char* op);

}  // namespace cornerstone::models
