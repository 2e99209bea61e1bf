#include "cornerstone/train/batch_sampler.h"

#include <string>
#include <vector>

#include "cornerstone/core/error.h"
#include "cornerstone/core/rng.h"

namespace cornerstone::train {

BatchSampler::BatchSampler(const data::TokenDataset& data, int64_t batch, int64_t seq_len, uint64_t seed, Shard shard)
    : data_(data), batch_(batch), seq_len_(seq_len), seed_(seed), first_row_(shard.first_row(batch)), world_(shard.world) {
  if (batch <= 0 || batch * shard.world >= 65536 || seq_len <= 0)
    throw ValueError("batch sampler: the batch of all processes must be in [1, 65535] and the sequence length positive");
  if (data.size() < static_cast<uint64_t>(seq_len) + 1)
    throw ValueError("batch sampler: the data has " + std::to_string(data.size()) + " tokens, fewer than one window of " +
                     std::to_string(seq_len + 1) + " (use a shorter context or more text)");
}

data::Batch BatchSampler::windows(const std::vector<uint64_t>& starts) const {
  Tensor ids = Tensor::empty({batch_, seq_len_}, DType::I32), targets = Tensor::empty({batch_, seq_len_}, DType::I32);
  std::vector<int32_t> buf(static_cast<size_t>(seq_len_ + 1));
  for (int64_t r = 0; r < batch_; ++r) {
    data_.read(starts[static_cast<size_t>(r)], static_cast<uint64_t>(seq_len_ + 1), buf.data());
    std::copy(buf.begin(), buf.end() - 1, ids.data<int32_t>() + r * seq_len_);
    std::copy(buf.begin() + 1, buf.end(), targets.data<int32_t>() + r * seq_len_);
  }
  data::Batch b;
  b.set(data::batch_keys::ids, ids).set(data::batch_keys::targets, targets);
  return b;
}

std::vector<uint64_t> BatchSampler::starts(int64_t step, int64_t micro) const {
  const uint64_t span = data_.size() - static_cast<uint64_t>(seq_len_);  // valid starts: [0, span)
  std::vector<uint64_t> out(static_cast<size_t>(batch_));
  for (int64_t r = 0; r < batch_; ++r) {
    // One Philox block per (step, micro, global row), keyed by the seed (micro and row < 65536).
    const uint64_t ctr = ((static_cast<uint64_t>(step) << 16 | static_cast<uint64_t>(micro)) << 16) | static_cast<uint64_t>(first_row_ + r);
    const auto x = philox4x32(seed_, ctr);
    const uint64_t v = (static_cast<uint64_t>(x[0]) << 32) | x[1];
    out[static_cast<size_t>(r)] = v % span;
  }
  return out;
}

std::vector<uint64_t> BatchSampler::eval_starts(int64_t i, int64_t num_batches) const {
  const uint64_t span = data_.size() - static_cast<uint64_t>(seq_len_);
  // Evenly spaced over the split, by global row: the processes' shares of batch i together are
  // the batch one process of batch world x B would read.
  const int64_t global = batch_ * world_;
  const uint64_t n = static_cast<uint64_t>(num_batches * global);
  std::vector<uint64_t> out(static_cast<size_t>(batch_));
  for (int64_t r = 0; r < batch_; ++r) out[static_cast<size_t>(r)] = (static_cast<uint64_t>(i * global + first_row_ + r) * span) / n;
  return out;
}

data::Batch BatchSampler::sample(int64_t step, int64_t micro) const { return windows(starts(step, micro)); }

data::Batch BatchSampler::eval_batch(int64_t i, int64_t num_batches) const { return windows(eval_starts(i, num_batches)); }

}  // namespace cornerstone::train
