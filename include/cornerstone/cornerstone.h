// Cornerstone's front door: open any model and ask it what it can do.
//
//   auto m = cornerstone::load("runs/gpt");            // a folder or a .gguf file, any family
//   if (m.can(cornerstone::Capability::CausalLM))
//     auto out = m.generate({"The state of the union is"}, {});
//   auto v = cornerstone::load("runs/bert").embed({"a text", "another"});       // (2, C)
//   auto r = m.evaluate("data/sotu");     // perplexity on token shards, task metrics on JSONL
//
// What load() opens, by what it finds at PATH:
//
//   FILE.gguf                    llama.cpp's format: weights dequantized to f32, tokenizer from the file
//   task.json (+ weights)        a `finetune` output: classifier, tagger, contrastive embedder or sft
//                                model, full or LoRA (the adapters over the base named in task.json)
//   adapter_config.json only     a PEFT LoRA adapter: merged into the base it names
//                                (base_model_name_or_path, or LoadOptions::base)
//   config.json "quantization"   q8_0 / q4_0 / bf16 folders (`cornerstone quantize`): inference only
//   config.json + safetensors    a pretraining run, checkpoint or Hugging Face folder of any
//                                registered family (models/family.h)
//
// The handle says what it can do (capabilities()) and does it; asking for something it cannot do
// throws UnsupportedError naming the model and what it can do instead. Every CLI command and the
// server open models only through here. Copies share the loaded weights.
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "cornerstone/adapt/embedding.h"
#include "cornerstone/adapt/task_model.h"
#include "cornerstone/core/tensor.h"
#include "cornerstone/data/token_shards.h"
#include "cornerstone/eval/harness.h"
#include "cornerstone/tokenize/chat_template.h"
#include "cornerstone/infer/generator.h"
#include "cornerstone/models/pretrained.h"
#include "cornerstone/tokenize/tokenizer.h"

namespace cornerstone {

enum class Capability {
  CausalLM,    // generate text, score perplexity
  MaskedLM,    // fill in masked tokens (pretraining objective of encoders)
  Embeddings,  // one vector per text
  Classifier,  // a label per text (finetune --task classify)
  Tagger,      // a label per word (finetune --task tag)
  Seq2Seq,     // text to text with an encoder and a decoder (no family yet)
  Image,       // a label per image (vit, bit: image classifiers)
  ImageText,   // images and texts in one embedding space (clip): zero-shot labels, retrieval
};
std::string capability_name(Capability c);  // "causal-lm", "masked-lm", "embeddings", "classifier", ...

struct LoadOptions {
  // Pack the weights for generation in this format (f32, bf16, q8_0, q4_0) when they are stored
  // in float; a quantized folder loads as stored. Default: as stored.
  std::optional<kernels::WeightFormat> format;
  std::string tokenizer;  // a tokenizer file or folder instead of the model's own
  std::string base;       // the base model of a bare PEFT adapter folder (default: the adapter's own note)
  int64_t max_length = 0; // tokens per text for embeddings and tasks (0: the model's, at most 512)
  // A LoRA folder's adapters are merged into its base (false: kept apart, for lora_deltas(); the
  // model then neither generates nor scores, and says so).
  bool merge_adapters = true;
};

// The base model a LoRA language-model folder was tuned from (task.json's "base" for an sft,
// dpo, grpo or ppo LoRA fine-tune, or a bare PEFT CAUSAL_LM adapter's base_model_name_or_path),
// as recorded there; "" for anything else (a classifier's LoRA included). Reads only those files.
std::string lora_base(const std::string& path);

// What evaluate() measured: the metrics as JSON and as a readable table.
struct Evaluation {
  std::string metric;  // "perplexity", "classification", "tagging", "retrieval", "response-loss"
  nlohmann::json json;
  std::string table;
};

struct EvaluateOptions {
  std::string split = "val";  // token shards: which split
  int64_t context = 0;        // token shards: tokens per window (0: the model's context)
  int64_t batch = 8;
  int64_t max_tokens = 0;     // token shards: at most this many (0: all)
  std::string prompt_template = "{}";  // image-text models: how a label becomes a caption (zero-shot)
};

class Model {
 public:
  const std::string& path() const;
  std::string model_type() const;     // "gpt2", "llama", "bert"
  std::string weight_format() const;  // "f32", "bf16", "q8_0", "q4_0"
  // "pretrained", or the task a finetune trained: "classify", "tag", "contrastive", "sft"
  std::string kind() const;
  std::vector<Capability> capabilities() const;
  bool can(Capability c) const;
  // The longest sequence the model reads, in tokens (its position table).
  int64_t context() const;
  // One line for people: "gpt2 (f32): causal-lm, embeddings".
  std::string describe() const;

  // The model's tokenizer; throws IOError when it has none (pass LoadOptions::tokenizer).
  const tokenize::Tokenizer& tokenizer() const;
  bool has_tokenizer() const;
  // The chat template a causal LM answers conversations in (the one it was tuned with, its
  // config.json's, or one its tokenizer's special tokens imply).
  tokenize::ChatTemplate chat_template() const;
  // True for a model tuned to answer conversations: an sft fine-tune, or a folder whose
  // config.json names its chat template (then prompts should be rendered with chat_template()).
  bool instruction_tuned() const;

  // ---- causal LM ----
  std::vector<infer::Generation> generate(const std::vector<std::string>& prompts, const infer::GenerateOptions& options,
                                          const infer::TextCallback& on_text = nullptr, infer::GenerateStats* stats = nullptr) const;
  // The packed weights generation runs on (built on first use).
  const infer::InferenceWeights& inference_weights() const;

  // ---- embeddings ----
  // One row per text: (N, C). pooling: the model's default when absent (a contrastive fine-tune's,
  // else mean).
  Tensor embed(const std::vector<std::string>& texts, std::optional<adapt::Pooling> pooling = std::nullopt, bool normalize = false,
               int64_t batch_size = 32) const;
  adapt::Pooling default_pooling() const;

  // ---- images ----
  // Unit-length embeddings (N, P) of image files in the space the texts share (image-text models).
  Tensor embed_images(const std::vector<std::string>& paths, int64_t batch_size = 64) const;
  // Probabilities (N, L) over labels per image file: an image classifier's own labels (`labels`
  // must be empty; image_labels() names them), or for an image-text model zero-shot over
  // `labels`, each made a caption by `prompt_template` ("a photo of {}").
  Tensor classify_images(const std::vector<std::string>& paths, const std::vector<std::string>& labels = {},
                         const std::string& prompt_template = "{}", int64_t batch_size = 64) const;
  std::vector<std::string> image_labels() const;

  // ---- classifier ----
  // A classifier's label names, in the order of its outputs.
  const std::vector<std::string>& labels() const;
  // Probabilities over labels() per text, (N, L); with `pairs` (one per text), per text pair
  // (a cross-encoder's query and passage).
  Tensor classify(const std::vector<std::string>& texts, const std::vector<std::string>& pairs = {}, int64_t batch_size = 32) const;

  // ---- evaluation: the metric follows from the model and the data ----
  //   a folder of token shards (`cornerstone prepare`)    causal LM: loss and perplexity
  //   JSONL, classifier / tagger                          accuracy, macro-F1, confusion matrix
  //   JSONL {"query", "positive"}, an embedder            recall@1/5, MRR
  //   JSONL {"prompt", "response"}, a causal LM           response loss and perplexity
  Evaluation evaluate(const std::string& data, const EvaluateOptions& options = {}) const;
  // Few-shot benchmarks (eval/harness.h): each of `tasks` a task file or a built-in name, scored by
  // log-likelihood (multiple choice) or greedy generation (exact match); an instruction-tuned model
  // is prompted in its chat template. metric "harness"; json {"results": ..., "config": ...}.
  Evaluation evaluate_tasks(const std::vector<std::string>& tasks, const eval::HarnessOptions& options = {}) const;

  // ---- the pieces, for the layers that train and convert ----
  // The f32 model (null for a quantized folder, which holds no f32 weights).
  std::shared_ptr<models::PretrainedModel> pretrained() const;
  // The f32 weights of a pretrained model (a run, HF folder, GGUF file, PEFT adapter over its base,
  // or an instruction-tuned model with its adapters folded in) for a job that writes them out
  // again (`job`: "export", "quantize", ...). UnsupportedError naming why for a quantized folder
  // (no float weights) or a task model with a head.
  std::shared_ptr<models::PretrainedModel> language_model(const std::string& job) const;
  // A LoRA folder opened with LoadOptions::merge_adapters = false: its adapters as terms for the
  // inference runner (infer/lora_deltas.h), to serve over a shared copy of the base. ValueError
  // for a model without adapters kept apart.
  infer::LoRADeltas lora_deltas() const;
  // The fine-tuned task model (null unless kind() is a task).
  const adapt::TaskModel* task() const;

  struct State;  // what load() found (src/api/model.cpp)

 private:
  std::shared_ptr<State> s_;
  friend Model load(const std::string& path, const LoadOptions& options);
};

// Opens PATH (see the table above). Throws IOError / FormatError naming the file and what is wrong.
Model load(const std::string& path, const LoadOptions& options = {});

}  // namespace cornerstone
