// Text generation: prompts in, streamed text out. Prompts are processed in one batched pass
// each; several prompts decode together, one token per sequence per step, through one KV cache
// (infer/decoder_runner.h). Sampling per infer/sampler.h; stop strings end a sequence and are not
// part of its text; text is streamed as soon as it is certain (a piece that might be the start of
// a stop string waits).
//
//   Generator gen(InferenceWeights::load("runs/gpt2-q4"), tokenizer);  // or Generator(model, tokenizer): f32
//   GenerateOptions o;  o.max_tokens = 64;  o.sampling.temperature = 0.7f;
//   gen.generate({"The state of the union is"}, o, [](size_t i, std::string_view piece) { ... });
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "cornerstone/infer/inference_weights.h"
#include "cornerstone/infer/sampler.h"
#include "cornerstone/models/pretrained.h"
#include "cornerstone/tokenize/tokenizer.h"

namespace cornerstone::infer {

struct GenerateOptions {
  int64_t max_tokens = 128;
  SamplingParams sampling;
  uint64_t seed = 0;                // sequence i draws from Rng(seed + i)
  std::vector<std::string> stop;    // stop strings
  std::vector<int32_t> stop_tokens; // token ids that end a sequence (e.g. a chat template's end of turn)
  bool stop_at_eos = true;          // end a sequence at the tokenizer's end-of-text token
  bool add_bos = false;             // prepend the tokenizer's BOS (Llama-style models)
};

struct GenerateStats {
  int64_t prompt_tokens = 0;
  double prompt_seconds = 0;
  int64_t generated_tokens = 0;   // all generated tokens (the first of each comes from the prompt pass)
  int64_t decoded_tokens = 0;     // tokens processed by the decode steps
  double generate_seconds = 0;    // time of the decode steps
};

struct Generation {
  std::string text;                // generated text (without the prompt and stop string)
  std::vector<int32_t> tokens;     // generated ids
  std::string finish_reason;       // "length", "stop" (a stop string or stop token), "eos"
};

using TextCallback = std::function<void(size_t sequence, std::string_view piece)>;

class Generator {
 public:
  Generator(InferenceWeights weights, tokenize::Tokenizer tokenizer);
  // The model's weights in f32 (a packed copy: the model may go away).
  Generator(const models::PretrainedModel& model, tokenize::Tokenizer tokenizer);

  // Generates a continuation of every prompt. Throws ShapeError when a prompt does not fit in the
  // model's context, ValueError for bad sampling values or an empty prompt.
  std::vector<Generation> generate(const std::vector<std::string>& prompts, const GenerateOptions& options,
                                   const TextCallback& on_text = nullptr, GenerateStats* stats = nullptr) const;

  const tokenize::Tokenizer& tokenizer() const { return tokenizer_; }
  const InferenceWeights& weights() const { return weights_; }

 private:
  InferenceWeights weights_;
  tokenize::Tokenizer tokenizer_;
};

}  // namespace cornerstone::infer
