#include "cornerstone/eval/perplexity.h"

#include <algorithm>
#include <cmath>
#include <span>
#include <vector>

#include "cornerstone/core/error.h"
#include "cornerstone/infer/decoder_runner.h"
#include "cornerstone/kernels/cross_entropy.h"

namespace cornerstone::eval {

eval::EvalResult evaluate_perplexity(const infer::InferenceWeights& weights, const data::TokenDataset& data, int64_t seq_len,
                                      int64_t batch, int64_t max_tokens) {
  const models::DecoderStack& cfg = weights.config();
  if (seq_len <= 0 || batch <= 0) throw ValueError("evaluate: sequence length and batch must be positive");
  if (seq_len > cfg.context)
    throw ValueError("evaluate: sequence length " + std::to_string(seq_len) + " exceeds the model's context of " +
                     std::to_string(cfg.context));
  if (data.vocab_size() > static_cast<uint64_t>(cfg.vocab_size))
    throw ValueError("tokenizer/model vocabulary mismatch: the data has " + std::to_string(data.vocab_size()) + " tokens, the model " +
                     std::to_string(cfg.vocab_size));
  int64_t windows = static_cast<int64_t>((data.size() - 1) / static_cast<uint64_t>(seq_len));
  if (max_tokens > 0) windows = std::min(windows, std::max<int64_t>(1, max_tokens / seq_len));
  if (windows == 0) throw ValueError("evaluate: the split has fewer than " + std::to_string(seq_len + 1) + " tokens");
  // Windows per pass: the logits of every row are formed, so keep a pass to ~2k rows.
  const int64_t per_pass = std::max<int64_t>(1, std::min(batch, 2048 / seq_len));

  infer::DecoderRunner run(weights);
  infer::KVCache cache(cfg, per_pass, seq_len);
  std::vector<int32_t> buf(static_cast<size_t>(per_pass * (seq_len + 1)));
  std::vector<int32_t> targets(static_cast<size_t>(per_pass * seq_len));
  std::vector<float> losses(static_cast<size_t>(per_pass * seq_len));
  double total = 0;
  for (int64_t w0 = 0; w0 < windows; w0 += per_pass) {
    const int64_t b = std::min(per_pass, windows - w0);
    std::vector<infer::SeqChunk> chunks;
    for (int64_t r = 0; r < b; ++r) {
      int32_t* win = buf.data() + r * (seq_len + 1);
      data.read(static_cast<uint64_t>((w0 + r) * seq_len), static_cast<uint64_t>(seq_len + 1), win);
      std::copy(win + 1, win + seq_len + 1, targets.begin() + r * seq_len);
      cache.clear(r);
      chunks.push_back({r, std::span<const int32_t>(win, static_cast<size_t>(seq_len))});
    }
    const Tensor logits = run.forward_all(cache, chunks);  // (b * seq_len, V)
    kernels::cross_entropy_forward(logits.data<float>(), targets.data(), b * seq_len, cfg.vocab_size, losses.data(), nullptr);
    for (int64_t i = 0; i < b * seq_len; ++i) total += losses[static_cast<size_t>(i)];
  }
  eval::EvalResult r;
  r.tokens = windows * seq_len;
  r.loss = total / static_cast<double>(r.tokens);
  r.perplexity = std::exp(r.loss);
  return r;
}

}  // namespace cornerstone::eval
