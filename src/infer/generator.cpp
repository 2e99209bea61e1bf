#include "cornerstone/infer/generator.h"

#include <algorithm>
#include <chrono>

#include "cornerstone/core/error.h"
#include "cornerstone/core/rng.h"
#include "cornerstone/infer/decoder_runner.h"
#include "cornerstone/infer/kv_cache.h"
#include "cornerstone/tokenize/stream_decoder.h"

namespace cornerstone::infer {

namespace {

double now_s() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

// One sequence's text state: what has been decoded, what has been handed out, and the stop check.
struct TextState {
  explicit TextState(const tokenize::Tokenizer& tok) : stream(tok, /*skip_special=*/true) {}
  tokenize::StreamDecoder stream;
  std::string text;     // all decoded text
  size_t emitted = 0;   // prefix of `text` already passed to the callback
  bool done = false;
};

// Length of the longest suffix of `text` that is a proper prefix of some stop string: that much
// must be held back, since the next token may complete the stop string.
size_t held_back(const std::string& text, const std::vector<std::string>& stops) {
  size_t hold = 0;
  for (const std::string& s : stops)
    for (size_t k = std::min(s.size() - 1, text.size()); k > hold; --k)
      if (text.compare(text.size() - k, k, s, 0, k) == 0) {
        hold = k;
        break;
      }
  return hold;
}

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
  std::vector<TextState> text;
  text.reserve(n);
  for (size_t i = 0; i < n; ++i) text.emplace_back(tokenizer_);
  std::vector<Rng> rngs;
  for (size_t i = 0; i < n; ++i) rngs.emplace_back(o.seed + i);
  std::vector<std::vector<int32_t>> history = ids;

  auto emit = [&](size_t i, bool final) {
    TextState& t = text[i];
    size_t limit = t.text.size();
    if (!final) limit -= held_back(t.text, o.stop);
    if (limit > t.emitted) {
      if (on_text) on_text(i, std::string_view(t.text).substr(t.emitted, limit - t.emitted));
      t.emitted = limit;
    }
  };
  auto finish = [&](size_t i, const char* reason) {
    text[i].text += text[i].stream.finish();
    text[i].done = true;
    out[i].finish_reason = reason;
    emit(i, true);
    out[i].text = text[i].text.substr(0, text[i].emitted);
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
    TextState& t = text[i];
    t.text += t.stream.push(tok);
    for (const std::string& s : o.stop) {
      const size_t at = t.text.find(s, t.emitted > s.size() ? t.emitted - s.size() : 0);
      if (at != std::string::npos) {
        t.text.resize(at);
        t.done = true;
        out[i].finish_reason = "stop";
        emit(i, true);
        out[i].text = t.text.substr(0, t.emitted);
        return false;
      }
    }
    emit(i, false);
    if (static_cast<int64_t>(out[i].tokens.size()) >= o.max_tokens || cache.length(static_cast<int64_t>(i)) + 1 >= max_len) {
      finish(i, "length");
      return false;
    }
    return true;
  };

  // Prompt processing: every prompt in one pass.
  double t0 = now_s();
  std::vector<SeqChunk> chunks;
  for (size_t i = 0; i < n; ++i) chunks.push_back({static_cast<int64_t>(i), ids[i]});
  std::vector<int32_t> next(n);
  std::vector<size_t> live;
  if (o.max_tokens > 0) {
    Tensor logits = runner.forward(cache, chunks);
    const int64_t V = logits.size(1);
    for (size_t i = 0; i < n; ++i) {
      const std::span<const float> row(logits.data<float>() + static_cast<int64_t>(i) * V, static_cast<size_t>(V));
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
    const int64_t V = logits.size(1);
    std::vector<size_t> still;
    for (size_t k = 0; k < live.size(); ++k) {
      const size_t i = live[k];
      const std::span<const float> row(logits.data<float>() + static_cast<int64_t>(k) * V, static_cast<size_t>(V));
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
