// Training batches: random contiguous windows of T + 1 tokens from the token stream, inputs the
// first T and targets the last T. Window starts come from counters (seed, step, row), so the
// batch of any step is a pure function of the seed: resuming at step s needs no saved data
// position beyond s, and the loss curve of a resumed run is identical to a straight one. Rows are
// keyed by their global index in the batch of all processes (train/data_parallel.h's Shard).
#pragma once

#include <cstdint>
#include <vector>

#include "cornerstone/core/tensor.h"
#include "cornerstone/data/batch.h"
#include "cornerstone/data/token_shards.h"
#include "cornerstone/train/data_parallel.h"

namespace cornerstone::train {

class BatchSampler {
 public:
  // `batch`: rows this process draws; `shard`: which rows of the global batch they are.
  BatchSampler(const data::TokenDataset& data, int64_t batch, int64_t seq_len, uint64_t seed, Shard shard = {});

  // Micro-batch `micro` of optimizer step `step`: ids and targets (B, T) (data/batch.h).
  data::Batch sample(int64_t step, int64_t micro) const;
  // The i-th of a fixed, evenly spaced set of evaluation batches (same for every call).
  data::Batch eval_batch(int64_t i, int64_t num_batches) const;
  // The window starts behind sample() and eval_batch(): B positions in the token stream, each
  // followed by seq_len + 1 tokens (the masked-LM sampler lays out its own rows from them).
  std::vector<uint64_t> starts(int64_t step, int64_t micro) const;
  std::vector<uint64_t> eval_starts(int64_t i, int64_t num_batches) const;

  int64_t batch() const { return batch_; }
  int64_t seq_len() const { return seq_len_; }

 private:
  data::Batch windows(const std::vector<uint64_t>& starts) const;
  const data::TokenDataset& data_;
  int64_t batch_, seq_len_;
  uint64_t seed_;
  int64_t first_row_;  // global index of this process's first row
  int64_t world_ = 1;  // processes sharing each batch
};

}  // namespace cornerstone::train
