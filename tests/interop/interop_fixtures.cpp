#include "interop_fixtures.h"

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>

#include "cornerstone/io/atomic_file.h"
#include "cornerstone/models/load.h"
#include "cornerstone/tokenize/bpe_trainer.h"

namespace cornerstone::testing {

namespace fs = std::filesystem;

models::DecoderConfig tiny_config(models::DecoderArch arch, int64_t vocab_size) {
  models::DecoderConfig c;
  c.arch = arch;
  c.vocab_size = vocab_size;
  c.context = 64, c.n_layers = 2, c.d_model = 64, c.n_heads = 4;
  c.n_kv_heads = arch == models::DecoderArch::Llama ? 2 : 4;
  c.d_ff = arch == models::DecoderArch::Llama ? 160 : 256;
  c.tie_embeddings = arch == models::DecoderArch::GPT2;
  if (arch == models::DecoderArch::Llama) c.rope_theta = 5000.0f;  // not the default: must travel
  c.norm_eps = arch == models::DecoderArch::Llama ? 1e-6f : 1e-5f;
  c.init_std = 0.1f;
  return c;
}

const std::vector<std::string>& sample_texts() {
  static const std::vector<std::string> texts = {
      "Hello world! The quick brown fox jumps over the lazy dog.",
      "It's 2024: we've seen 1,234,567 tokens, haven't we?<|endoftext|>Next document.",
      "  leading spaces,\ttabs\nand\n\n\nnew lines   ",
      "Ünïcödé: naïve café, 日本語のテキスト, emoji 🙂 and Ελληνικά.",
      "def f(x):\n    return x**2 + 3 # comment",
      "",
  };
  return texts;
}

const tokenize::Tokenizer& tiny_tokenizer() {
  static const tokenize::Tokenizer tok = [] {
    std::vector<std::string> docs;
    for (int rep = 0; rep < 20; ++rep)
      for (const auto& t : sample_texts())
        docs.push_back(t + " The union of these states, the people and the congress of the nation. " + std::to_string(rep));
    tokenize::BpeTrainerOptions o;
    o.vocab_size = 300;
    o.special_tokens = {"<|endoftext|>"};
    return tokenize::train_bpe_on_texts(docs, o);
  }();
  return tok;
}

void write_model_folder(const models::GPT& model, const tokenize::Tokenizer* tok, const std::string& dir) {
  fs::create_directories(dir);
  models::save_gpt(model, dir);
  if (tok) tok->save((fs::path(dir) / "tokenizer.json").string());
}

std::string file_bytes(const std::string& path) { return io::read_file(path); }

void expect_same_weights(const models::GPT& a, const models::GPT& b) {
  const auto pa = a.named_parameters(), pb = b.named_parameters();
  ASSERT_EQ(pa.size(), pb.size());
  for (size_t i = 0; i < pa.size(); ++i) {
    ASSERT_EQ(pa[i].first, pb[i].first);
    const Tensor x = pa[i].second.contiguous(), y = pb[i].second.contiguous();
    ASSERT_EQ(x.shape(), y.shape()) << pa[i].first;
    ASSERT_EQ(x.dtype(), y.dtype()) << pa[i].first;
    EXPECT_EQ(std::memcmp(x.raw_data(), y.raw_data(), x.nbytes()), 0) << pa[i].first << " differs";
  }
}

}  // namespace cornerstone::testing
