// PretrainedModel: what every model family offers the layers above it (pretraining checkpoints,
// adaptation, LoRA, embeddings, generation), so that those layers have one code path for every
// family (models/gpt/, models/bert/, ...; the registry is models/family.h).
//
//   config             config(): the family's ModelConfig (arch, sizes, FLOPs, config.json)
//   Hugging Face I/O   hf_state_dict(), load_hf_state_dict(): the family's tensor names
//                      (models/load.h writes the folders)
//   sequences          hidden_states() of a batch (data/batch.h: ids, lengths, segments, ...),
//                      sequence_features() for classification heads, text_framing() for how a text
//                      becomes input
//   capabilities       as<CausalLM>(), as<MaskedLM>(): what the model can be trained for and asked;
//                      the layers above query these instead of the family
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
#include "cornerstone/data/batch.h"
#include "cornerstone/models/family.h"
#include "cornerstone/models/image_classifier.h"
#include "cornerstone/nn/layers.h"
#include "cornerstone/nn/module.h"
#include "cornerstone/nn/tensor_parallel.h"

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

// How a text becomes a model's input (adapt/model_inputs.h applies it).
enum class TextFraming {
  EndOfText,  // the text's tokens, then the end-of-text token: a causal decoder, whose last token
              // has seen the whole text
  ClsSep,     // [CLS] text [SEP], pairs [CLS] a [SEP] b [SEP] with segment ids: a bidirectional
              // encoder, whose [CLS] state has seen every token
  None,       // not a text model: its input is images (models/image_classifier.h)
};

class PretrainedModel : public nn::Module {
 public:
  virtual const ModelConfig& config() const = 0;
  // config.json's model_type: "gpt2", "llama", "bert".
  std::string model_type() const { return config().model_type(); }
  const Family& family() const { return config().family(); }
  virtual TextFraming text_framing() const = 0;
  virtual int64_t hidden_size() const = 0;
  int64_t max_positions() const { return config().max_positions(); }  // the longest sequence the model accepts
  virtual float init_std() const = 0;  // the initialisation scale, also used for new heads

  virtual nlohmann::json hf_config() const { return config().hf_config(); }
  // Every weight under its Hugging Face name and layout (new contiguous tensors).
  virtual std::vector<std::pair<std::string, Tensor>> hf_state_dict() const = 0;
  // Copies Hugging Face-named tensors into the model. Throws FormatError naming a missing tensor
  // or a shape mismatch; `optional` names may be absent (they keep their initial values).
  virtual void load_hf_state_dict(const TensorSource& get, const std::string& source) = 0;

  // batch: ids (B, T) i32 right-padded, lengths (B) i32 the real lengths (absent: all T),
  // segments (B, T) i32 the segment ids of sentence pairs (ClsSep models only; absent: all 0)
  // -> hidden states (B, T, C) after the model's last norm. Padding never changes the real
  // positions' states.
  virtual Tensor hidden_states(const data::Batch& batch, Rng* dropout_rng = nullptr) const = 0;
  // What a sequence classification head reads, (B, C): the last real token's state for a decoder,
  // the pooler's output on [CLS] for BERT.
  virtual Tensor sequence_features(const Tensor& hidden, const Tensor& lengths) const = 0;
  // The parameters sequence_features() adds on top of the hidden states (BERT's pooler), under
  // their Hugging Face names (the tensors themselves, not copies); none for a decoder. Masked-LM
  // pretraining leaves the pooler untrained, so a classification head trains it in every mode.
  virtual std::vector<std::pair<std::string, Tensor>> feature_head() const { return {}; }

  // The Hugging Face names of a sequence classification head on this model: "score", no bias
  // (GPT2 / LlamaForSequenceClassification), or "classifier" with a bias (BertForSequenceClassification).
  struct HeadNames {
    std::string name;
    bool bias;
  };
  virtual HeadNames sequence_head() const = 0;

  virtual std::vector<LinearSite> linear_sites() const = 0;
  // Recompute block activations in the backward pass instead of keeping them.
  virtual void set_checkpoint_activations(bool on) = 0;
  // Tensor parallelism (nn/tensor_parallel.h): keeps this process's share of every block's heads
  // and feed-forward columns over `group`; returns the split parameters by full name.
  // UnsupportedError for a family without it.
  virtual nn::TensorParallelPlan shard_tensor_parallel(dist::ProcessGroup& group);

  // A capability interface (CausalLM, MaskedLM below), or null when the model lacks it.
  template <class Capability>
  const Capability* as() const {
    return dynamic_cast<const Capability*>(this);
  }
  // "causal-lm", "masked-lm", "embeddings": for messages and `cornerstone info`.
  std::vector<std::string> capabilities() const;
};

// A model that predicts the next token: pretraining by causal LM, sft, generation, perplexity.
class CausalLM {
 public:
  virtual ~CausalLM() = default;
  // Mean next-token cross-entropy of the batch's ids (B, T) against its targets (B, T) (-1: no
  // loss there); the logits are never materialised.
  virtual Tensor lm_loss(const data::Batch& batch, Rng* dropout_rng = nullptr) const = 0;
  // hidden (..., C) -> logits (..., V).
  virtual Tensor logits(const Tensor& hidden) const = 0;
};

// A model that fills in masked tokens: pretraining by masked LM.
class MaskedLM {
 public:
  virtual ~MaskedLM() = default;
  // Mean cross-entropy over the positions whose target (B, T) is >= 0; the batch's ids and
  // segments are the (masked) input.
  virtual Tensor mlm_loss(const data::Batch& batch, Rng* dropout_rng = nullptr) const = 0;
  // The MLM head on hidden states (..., C) -> logits (..., V).
  virtual Tensor mlm_logits(const Tensor& hidden) const = 0;
};

// A model that classifies images: supervised image pretraining, accuracy (models/image_classifier.h
// has the image geometry and labels it was built for).
class ImageClassifier {
 public:
  virtual ~ImageClassifier() = default;
  // pixels (B, C, H, W) f32, normalised as the model's ImageSpec says -> logits (B, num_labels).
  virtual Tensor image_logits(const Tensor& pixels, Rng* dropout_rng = nullptr) const = 0;
  // The images the model was built for: channels, size, labels, normalisation.
  virtual const ImageSpec& image_spec() const = 0;
  // The classification head: its parameters (Cornerstone names) and their Hugging Face names. Transfer
  // to other labels replaces it (models/load.h); a linear probe trains only it.
  virtual std::vector<std::string> head_parameters() const { return {"classifier.weight", "classifier.bias"}; }
  virtual std::vector<std::string> head_hf_names() const = 0;
  // Names the labels of a model built without names (from the classes of its training data, so that
  // every split and every later evaluation map names to the same ids). Throws ValueError unless
  // there are num_labels of them.
  virtual void set_label_names(const std::vector<std::string>& names) = 0;
  // Mean cross-entropy of the batch's pixels against its labels (B) i32.
  Tensor image_loss(const data::Batch& batch, Rng* dropout_rng = nullptr) const;
};

// A model that embeds images and texts into one space (CLIP): image-text contrastive pretraining,
// zero-shot classification, image <-> text retrieval.
class ImageTextModel {
 public:
  virtual ~ImageTextModel() = default;
  // pixels (B, C, H, W) normalised as image_input() says -> (B, P), not normalised.
  virtual Tensor image_embeds(const Tensor& pixels, Rng* dropout_rng = nullptr) const = 0;
  // A batch of captions (ids (B, T) right-padded, each ending with the end-of-text token at its
  // length - 1; lengths (B)) -> (B, P), not normalised.
  virtual Tensor text_embeds(const data::Batch& batch, Rng* dropout_rng = nullptr) const = 0;
  // The learned log temperature, a (1,) parameter.
  virtual Tensor logit_scale() const = 0;
  // The images it was built for (channels, size, normalisation; its labels are unused).
  virtual const ImageSpec& image_input() const = 0;
  // The token every caption ends with (the one the text tower is pooled at).
  virtual int64_t eos_token_id() const = 0;
  // The largest logit_scale the forward pass uses (CLIP's clamp at log 100).
  static constexpr float kMaxLogitScale = 4.605170186f;
  // exp(logit_scale) x cosine similarities of every image with every text: (B_images, B_texts).
  Tensor similarity_logits(const Tensor& image_embeds, const Tensor& text_embeds) const;
  // CLIP's symmetric contrastive loss of a batch of pixels and their captions (ids, lengths):
  // the i-th caption belongs to the i-th image.
  Tensor contrastive_loss(const data::Batch& batch, Rng* dropout_rng = nullptr) const;
  // The same loss's share of rows [first, first + n) of a batch of N pairs, from unit-length
  // embeddings (N, P) of the N images and their N captions: those images against all captions and
  // those captions against all images, the cross-entropies summed over the n rows and divided by
  // N, so that the shares of a data-parallel batch's processes add up to its loss (n = N: the loss).
  Tensor contrastive_loss(const Tensor& image_units, const Tensor& text_units, int64_t first, int64_t n) const;
};

// hidden (B, T, C) -> (B, C): each sequence's state at its last real token (lengths (B), or all T),
// gathered differentiably. Throws like checked_lengths, naming `op`.
Tensor last_token_states(const Tensor& hidden, const Tensor& lengths, const char* op);

// The real lengths of a batch of B sequences padded to T: `lengths` (B) i32 checked to lie in
// [1, T], or all T when undefined. Throws ShapeError / ValueError naming `op` and the sequence.
std::vector<int32_t> checked_lengths(int64_t B, int64_t T, const Tensor& lengths, const char* op);

}  // namespace cornerstone::models
