// Small decoders for the infer tests: both families, random weights large enough to give peaked
// logits, shapes that every weight format accepts (inner dimensions multiples of 32).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "cornerstone/core/rng.h"
#include "cornerstone/models/gpt/decoder_config.h"
#include "cornerstone/tokenize/bpe_trainer.h"

namespace cornerstone::testing {

inline models::DecoderConfig small_decoder(models::DecoderArch arch) {
  models::DecoderConfig c;
  c.arch = arch;
  c.vocab_size = 97, c.context = 48, c.n_layers = 2, c.d_model = 64, c.n_heads = 4, c.d_ff = 128;
  c.n_kv_heads = arch == models::DecoderArch::Llama ? 2 : 4;
  c.tie_embeddings = arch == models::DecoderArch::GPT2;
  c.init_std = 0.1f;
  return c;
}

// A 320-token byte-level BPE (with end-of-text and ChatML's specials) trained on a few sentences.
inline tokenize::Tokenizer small_tokenizer() {
  std::vector<std::string> docs;
  for (int i = 0; i < 40; ++i)
    docs.push_back("The state of the union is strong. We the people, in order to form a more perfect union, " + std::to_string(i) +
                   " times over; liberty and justice for all.");
  tokenize::BpeTrainerOptions o;
  o.vocab_size = 320;
  o.special_tokens = {"<|endoftext|>", "<|im_start|>", "<|im_end|>"};
  return tokenize::train_bpe_on_texts(docs, o);
}

inline std::vector<int32_t> random_tokens(size_t n, int64_t vocab, uint64_t seed) {
  Rng rng(seed);
  std::vector<int32_t> v(n);
  for (auto& x : v) x = static_cast<int32_t>(rng.below(static_cast<uint64_t>(vocab)));
  return v;
}

}  // namespace cornerstone::testing
