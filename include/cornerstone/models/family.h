// The model registry: every model family registers itself from its own folder, and the layers
// above find families through it, never by name.
//
// A family (src/models/<family>/) supplies:
//
//   ModelConfig   its hyper-parameters: JSON in and out, presets, the Hugging Face config.json,
//                 parameter and FLOP counts, and the constructor of its model (models/pretrained.h)
//   Family        the names it answers to ("arch" in Cornerstone configs, model_type in a Hugging
//                 Face config.json, general.architecture in GGUF), its pretraining objective by
//                 name (train/objective.h registers the objectives), its presets with their
//                 training recipes, and its GGUF tensor tables
//
// and registers the Family with one line in its folder:
//
//   const Family& gpt_family() { static const GptFamily f; return f; }   // its configs return it
//   CORNERSTONE_MODEL_FAMILY(gpt_family())
//
// Everything else (LoRA sites, hidden states, losses, the inference stack) is a virtual of the
// model it constructs. Adding a family touches nothing outside its folder and its tests: see
// docs/architecture.md for the recipe.
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "cornerstone/core/dtype.h"
#include "cornerstone/models/decoder_stack.h"

namespace cornerstone::io {
class GGUFFile;
class GGUFWriter;
}  // namespace cornerstone::io

namespace cornerstone::models {

class Family;
class PretrainedModel;

// One tensor of a family's Hugging Face layout and the Cornerstone parameter it holds (all of it,
// or a row range of a fused weight), e.g. {"model.layers.0.self_attn.k_proj.weight",
// "blocks.0.attn.qkv.weight", q, q + kv, false}.
struct HfTensor {
  std::string hf;          // Hugging Face name
  std::string ours;        // Cornerstone parameter
  int64_t row_begin = -1;  // a row range of ours (split of a fused weight), or -1 for all
  int64_t row_end = -1;
  bool transpose = false;  // stored (in, out): GPT-2's Conv1D
};

// A family's hyper-parameters behind one interface. Concrete configs (DecoderConfig,
// EncoderConfig) are plain value types deriving from it.
class ModelConfig {
 public:
  virtual ~ModelConfig() = default;
  virtual const Family& family() const = 0;
  virtual std::unique_ptr<ModelConfig> clone() const = 0;
  // The architecture: "arch" of the Cornerstone config and model_type of config.json ("gpt2", "llama", "bert").
  virtual std::string model_type() const = 0;
  // The Cornerstone config ({"arch": ..., every key}); the family's config_from_json reads it back.
  virtual nlohmann::json to_json() const = 0;
  // config.json as Hugging Face transformers writes it for this architecture.
  virtual nlohmann::json hf_config() const = 0;
  // Throws ValueError naming the key when the numbers do not describe a valid model.
  virtual void validate() const = 0;
  // validate(), its message prefixed with the file the config came from ("x/config.json: ...").
  void validate_from(const std::string& source) const;

  virtual int64_t vocabulary_size() const = 0;  // token ids the embedding holds
  virtual int64_t max_positions() const = 0;    // the longest sequence the model accepts
  virtual int64_t num_parameters() const = 0;
  // Matmul FLOPs per input token of a training step on sequences of seq_len, when a share
  // `predicted` of the tokens carries a target (masked LM: ~0.15; a head that runs on every row
  // ignores it): 6 N + attention, the MFU numerator.
  virtual double train_flops_per_token(int64_t seq_len, double predicted) const = 0;

  // The model this config describes, with fresh weights from `seed` (random_init = false: zeros,
  // no random draws, for a model whose weights are loaded next).
  virtual std::unique_ptr<PretrainedModel> create(uint64_t seed, bool random_init = true) const = 0;

  // The decoder stack the model is (models/decoder_stack.h), when it is a decoder-only LM built
  // from standard blocks: then the inference runner (KV cache, packed weights) runs it. nullopt:
  // the family has no such stack.
  virtual std::optional<DecoderStack> decoder_stack() const { return std::nullopt; }
  // Every tensor of the Hugging Face layout with the parameter it holds, in checkpoint order
  // (quantized folders are written and read through it). Empty when the family has no table here.
  virtual std::vector<HfTensor> hf_tensors() const { return {}; }
};

class Family {
 public:
  virtual ~Family() = default;
  virtual std::string name() const = 0;  // "gpt", "bert"
  // The "arch" values of Cornerstone configs (= config.json model_type) it builds.
  virtual std::vector<std::string> archs() const = 0;
  // config.json model_type values it reads (may refuse a variant it cannot run, naming the key).
  virtual std::vector<std::string> hf_model_types() const { return archs(); }
  // The objective pretraining trains by default ("causal_lm", "masked_lm"; train/objective.h).
  virtual std::string pretraining_objective() const = 0;

  virtual std::vector<std::string> presets() const = 0;
  // A preset's config (precondition: the name is in presets()).
  virtual std::unique_ptr<ModelConfig> preset(const std::string& name) const = 0;
  // A preset's training recipe: keys of the "training" section that differ from the defaults.
  virtual nlohmann::json preset_training(const std::string& name) const { return nlohmann::json::object(); }

  // From a Cornerstone config object (its "arch" is one of archs()). Unknown keys and bad types
  // throw ValueError naming the key (`where` + "." + key).
  virtual std::unique_ptr<ModelConfig> config_from_json(const nlohmann::json& j, const std::string& where) const = 0;
  // From a Hugging Face config.json (model_type is one of hf_model_types()). Throws FormatError /
  // UnsupportedError naming the key.
  virtual std::unique_ptr<ModelConfig> config_from_hf(const nlohmann::json& j, const std::string& source) const = 0;

  // The model a checkpoint's weights are loaded into: zeros when every weight is stored, seeded
  // weights when some parts may be absent (BERT's pooler and MLM head).
  virtual std::unique_ptr<PretrainedModel> create_for_loading(const ModelConfig& c) const;
  // Parameters of the config that a checkpoint may lack (they keep seeded values: BERT's pooler and
  // MLM head); a checkpoint holding fewer values than num_parameters() minus these does not match.
  virtual int64_t optional_parameters(const ModelConfig& c) const { return 0; }
  // Tensor names of a checkpoint the config does not account for (a variant the family does not
  // run: loading would silently drop them). Companion buffers transformers stores are not counted.
  virtual std::vector<std::string> unexpected_tensors(const ModelConfig& c, const std::vector<std::string>& present) const {
    return {};
  }

  // GGUF (llama.cpp's layout): general.architecture values it reads and writes, the model a file
  // holds, and the writer of a model of this family. Families without a GGUF layout keep the
  // defaults, which refuse with UnsupportedError.
  virtual std::vector<std::string> gguf_archs() const { return {}; }
  virtual std::unique_ptr<PretrainedModel> from_gguf(const io::GGUFFile& f) const;
  // Adds general.* / <arch>.* keys and every tensor in `type` to `w`; returns notes for the user.
  virtual std::vector<std::string> to_gguf(const PretrainedModel& m, DType type, const std::string& name,
                                           io::GGUFWriter& w) const;
};

// ---- registration -----------------------------------------------------------------------------

// Registers a family that lives for the whole program (a function-local static).
struct FamilyRegistration {
  explicit FamilyRegistration(const Family& family);
};

#define CS_FAMILY_CONCAT2(a, b) a##b
#define CS_FAMILY_CONCAT(a, b) CS_FAMILY_CONCAT2(a, b)
#define CORNERSTONE_MODEL_FAMILY(family_expr) \
  static const ::cornerstone::models::FamilyRegistration CS_FAMILY_CONCAT(cs_family_registration_, __LINE__)(family_expr);

// ---- lookups ----------------------------------------------------------------------------------

// Every registered family, by name.
std::vector<const Family*> families();
// The family building `arch`; throws ValueError "<where>: unknown arch 'x' (known: ...)".
const Family& family_of_arch(const std::string& arch, const std::string& where);
// The family reading a config.json (by model_type; absent: GPT-2, as transformers' oldest
// configs). Throws UnsupportedError naming the model_type and the known ones.
const Family& family_of_hf_config(const nlohmann::json& config, const std::string& source);
// The family reading a GGUF general.architecture, or null.
const Family* family_of_gguf_arch(const std::string& arch);
// The family that reads this GGUF file; throws UnsupportedError naming the file's
// general.architecture and the ones Cornerstone runs.
const Family& family_of_gguf(const io::GGUFFile& f);

// Model presets of every family, sorted; the family of a preset (null when none has it).
std::vector<std::string> model_preset_names();
const Family* family_of_preset(const std::string& name);

// A Cornerstone model config: a preset name or an object with "arch" (absent: "gpt2", the only
// architecture before encoders existed). Throws ValueError naming `where` and the key.
std::unique_ptr<ModelConfig> model_config_from_json(const nlohmann::json& j, const std::string& where);
// The config a config.json describes, through its family.
std::unique_ptr<ModelConfig> model_config_from_hf(const nlohmann::json& j, const std::string& source);

}  // namespace cornerstone::models
