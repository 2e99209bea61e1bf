#include "cornerstone/eval/loss.h"

#include <cmath>
#include <vector>

#include "cornerstone/autograd/grad_mode.h"
#include "cornerstone/core/error.h"

namespace cornerstone::eval {

EvalResult evaluate_loss(const models::GPT& model, const data::TokenDataset& data, int64_t seq_len, int64_t batch,
                         int64_t max_tokens) {
  if (seq_len <= 0 || batch <= 0) throw ValueError("evaluate: sequence length and batch must be positive");
  if (seq_len > model.config().context)
    throw ValueError("evaluate: sequence length " + std::to_string(seq_len) + " exceeds the model's context of " +
                     std::to_string(model.config().context));
  if (data.vocab_size() > static_cast<uint64_t>(model.config().vocab_size))
    throw ValueError("tokenizer/model vocabulary mismatch: the data has " + std::to_string(data.vocab_size()) +
                     " tokens, the model " + std::to_string(model.config().vocab_size));
  autograd::NoGradGuard no_grad;
  int64_t windows = static_cast<int64_t>((data.size() - 1) / static_cast<uint64_t>(seq_len));
  if (max_tokens > 0) windows = std::min(windows, std::max<int64_t>(1, max_tokens / seq_len));
  if (windows == 0) throw ValueError("evaluate: the split has fewer than " + std::to_string(seq_len + 1) + " tokens");
  double total = 0;
  std::vector<int32_t> buf(static_cast<size_t>(seq_len + 1));
  for (int64_t w0 = 0; w0 < windows; w0 += batch) {
    const int64_t b = std::min(batch, windows - w0);
    Tensor in = Tensor::empty({b, seq_len}, DType::I32), tg = Tensor::empty({b, seq_len}, DType::I32);
    for (int64_t r = 0; r < b; ++r) {
      data.read(static_cast<uint64_t>((w0 + r) * seq_len), static_cast<uint64_t>(seq_len + 1), buf.data());
      std::copy(buf.begin(), buf.end() - 1, in.data<int32_t>() + r * seq_len);
      std::copy(buf.begin() + 1, buf.end(), tg.data<int32_t>() + r * seq_len);
    }
    total += model.loss(in, tg).item() * static_cast<double>(b * seq_len);
  }
  EvalResult r;
  r.tokens = windows * seq_len;
  r.loss = total / static_cast<double>(r.tokens);
  r.perplexity = std::exp(r.loss);
  return r;
}

}  // namespace cornerstone::eval
