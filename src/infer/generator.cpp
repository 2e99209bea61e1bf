#include "cornerstone/infer/generator.h"

#include <algorithm>
#include <chrono>

#include "cornerstone/core/error.h"
#include "cornerstone/core/rng.h"
#include "cornerstone/infer/completion_text.h"
#include "cornerstone/infer/decoder_runner.h"
#include "cornerstone/infer/kv_cache.h"

namespace cornerstone::infer {

namespace {

double now_s() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

}  // namespace

Generator::Generator(InferenceWeights weights, tokenize::Tokenizer tokenizer)
    : weights_(std::move(weights)), tokenizer_(std::move(tokenizer)) {
  if (tokenizer_.vocab_size() > weights_.config().vocab_size)
    throw ValueError("tokenizer/model vocabulary mismatch: the tokenizer has " + std::to_string(tokenizer_.vocab_size()) +
                     " tokens, the model " + std::to_string(weights_.config().vocab_size));
}

Generator::Generator(const models::PretrainedModel& model, tokenize::Tokenizer tokenizer)
    : Generator(InferenceWeights::from_model(model, WeightFormat::F32), std::move(tokenizer)) {}

std::vector<Generation> Generator::generate(const std::vector<std::string>& prompts, const GenerateOptions& o,
                                            const TextCallback& on_text, GenerateStats* stats) const {
  o.sampling.validate();
  if (o.max_tokens < 0) throw ValueError("max_tokens must be >= 0");
  for (const std::string& s : o.stop)
    if (s.empty()) throw ValueError("stop strings must not be empty");
  const int64_t context = weights_.config().context;
  const size_t n = prompts.size();
  std::vector<std::vector<int32_t>> ids(n);
  int64_t longest = 0;
  for (size_t i = 0; i < n; ++i) {
    ids[i] = tokenizer_.encode(prompts[i]);
    if (o.add_bos)
      if (auto bos = tokenizer_.bos_id()) ids[i].insert(ids[i].begin(), *bos);
    if (ids[i].empty()) throw ValueError("prompt " + std::to_string(i) + " is empty (no tokens)");
    if (static_cast<int64_t>(ids[i].size()) >= context)
      throw ShapeError("prompt " + std::to_string(i) + " has " + std::to_string(ids[i].size()) +
                       " tokens; the model's context is " + std::to_string(context) + " (shorten the prompt)");
    longest = std::max(longest, static_cast<int64_t>(ids[i].size()));
  }
  const int64_t max_len = std::min(context, longest + o.max_tokens);
  KVCache cache(weights_.config(), static_cast<int64_t>(n), max_len);
  DecoderRunner runner(weights_);
  const std::optional<int32_t> eos = tokenizer_.eos_id();

  std::vector<Generation> out(n);
  std::vector<CompletionText> text;  // per sequence: decoded text, stop strings, what is certain
  text.reserve(n);
  for (size_t i = 0; i < n; ++i) text.emplace_back(tokenizer_, o.stop);
  std::vector<Rng> rngs;
  for (size_t i = 0; i < n; ++i) rngs.emplace_back(o.seed + i);
  std::vector<std::vector<int32_t>> history = ids;

  auto emit = [&](size_t i) {
    const std::string piece = text[i].take();
    if (on_text && !piece.empty()) on_text(i, piece);
  };
  auto finish = [&](size_t i, const char* reason) {
    text[i].finish();
    out[i].finish_reason = reason;
    emit(i);
    out[i].text = text[i].text();
  };
  // Appends a sampled token to sequence i; returns whether it continues.
  auto accept = [&](size_t i, int32_t tok) {
    if (o.stop_at_eos && eos && tok == *eos) {
      finish(i, "eos");
      return false;
    }
    if (std::find(o.stop_tokens.begin(), o.stop_tokens.end(), tok) != o.stop_tokens.end()) {
      finish(i, "stop");
      return false;
    }
    out[i].tokens.push_back(tok);
    history[i].push_back(tok);
    if (text[i].push(tok)) {  // a stop string: the text is cut before it
      finish(i, "stop");
      return false;
    }
    emit(i);
    if (static_cast<int64_t>(out[i].tokens.size()) >= o.max_tokens || cache.length(static_cast<int64_t>(i)) + 1 >= max_len) {
      finish(i, "length");
      return false;
    }
    return true;
  };

  // A model's vocabulary may be padded past its tokenizer's: ids the tokenizer cannot decode are
  // never sampled.
  auto sampled_vocab = [&](int64_t model_vocab) { return std::min<int64_t>(model_vocab, tokenizer_.vocab_size()); };
  // Prompt processing: every prompt in one pass.
  double t0 = now_s();
  std::vector<SeqChunk> chunks;
  for (size_t i = 0; i < n; ++i) chunks.push_back({static_cast<int64_t>(i), ids[i]});
  std::vector<int32_t> next(n);
  std::vector<size_t> live;
  if (o.max_tokens > 0) {
    Tensor logits = runner.forward(cache, chunks);
    const int64_t stride = logits.size(1), V = sampled_vocab(stride);
    for (size_t i = 0; i < n; ++i) {
      const std::span<const float> row(logits.data<float>() + static_cast<int64_t>(i) * stride, static_cast<size_t>(V));
      next[i] = sample_token(row, o.sampling, history[i], rngs[i]);
    }
  }
  const double t1 = now_s();
  for (size_t i = 0; i < n; ++i) {
    if (o.max_tokens == 0) {
      finish(i, "length");
      continue;
    }
    if (accept(i, next[i])) live.push_back(i);
  }
  // Decoding: one token per live sequence per step, batched.
  int64_t decoded = 0;
  while (!live.empty()) {
    decoded += static_cast<int64_t>(live.size());
    chunks.clear();
    for (size_t i : live) chunks.push_back({static_cast<int64_t>(i), std::span<const int32_t>(&next[i], 1)});
    Tensor logits = runner.forward(cache, chunks);
    const int64_t stride = logits.size(1), V = sampled_vocab(stride);
    std::vector<size_t> still;
    for (size_t k = 0; k < live.size(); ++k) {
      const size_t i = live[k];
      const std::span<const float> row(logits.data<float>() + static_cast<int64_t>(k) * stride, static_cast<size_t>(V));
      next[i] = sample_token(row, o.sampling, history[i], rngs[i]);
      if (accept(i, next[i])) still.push_back(i);
    }
    live.swap(still);
  }
  if (stats) {
    stats->prompt_tokens = 0;
    for (const auto& p : ids) stats->prompt_tokens += static_cast<int64_t>(p.size());
    stats->prompt_seconds = t1 - t0;
    stats->generated_tokens = 0;
    for (const auto& g : out) stats->generated_tokens += static_cast<int64_t>(g.tokens.size());
    stats->decoded_tokens = decoded;
    stats->generate_seconds = now_s() - t1;
  }
  return out;
}

}  // namespace cornerstone::infer
