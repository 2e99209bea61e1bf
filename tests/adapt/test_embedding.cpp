// Sentence-embedding pieces against PyTorch: mean / [CLS] pooling over right-padded batches, L2
// normalisation and the InfoNCE loss with in-batch negatives (forward, backward, finite
// differences); the .npy writer; and how inputs are framed per model family (BERT's [CLS] / [SEP]
// and segments, a decoder's end-of-text, truncation, word pieces).
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "cli.h"
#include "cornerstone/adapt/embedding.h"
#include "cornerstone/adapt/model_inputs.h"
#include "cornerstone/core/error.h"
#include "cornerstone/core/rng.h"
#include "cornerstone/io/atomic_file.h"
#include "cornerstone/io/npy.h"
#include "op_check.h"
#include "test_util.h"

using namespace cornerstone;
using namespace cornerstone::testing;
namespace fs = std::filesystem;

TEST(Embedding, PoolingNormalisationAndInfoNceMatchPyTorch) {
  const std::vector<int32_t> lq = {7, 3, 1, 5}, lp = {2, 7, 7, 4};
  for (const char* pooling : {"mean", "cls"}) {
    SCOPED_TRACE(pooling);
    const adapt::Pooling p = adapt::pooling_from_name(pooling);
    Rng rng(3);
    OpCase c;
    c.oracle_op = "info_nce";
    c.attrs = {{"lengths_q", lq}, {"lengths_p", lp}, {"pooling", pooling}, {"temperature", 0.1}};
    c.inputs = {Tensor::uniform({4, 7, 12}, rng, -1, 1), Tensor::uniform({4, 7, 12}, rng, -1, 1)};
    c.grad = {true, true};
    c.run = [&](const std::vector<Tensor>& in) {
      return adapt::info_nce(adapt::pool(in[0], Tensor::from_data({4}, lq), p), adapt::pool(in[1], Tensor::from_data({4}, lp), p), 0.1f);
    };
    check_against_oracle(c);
    check_finite_differences(c);
  }
  // Hard negatives: documents after the B positives are negatives for every query.
  {
    const std::vector<int32_t> ld = {2, 7, 7, 4, 5, 1};
    Rng rng(5);
    OpCase c;
    c.oracle_op = "info_nce";
    c.attrs = {{"lengths_q", lq}, {"lengths_p", ld}, {"pooling", "mean"}, {"temperature", 0.05}};
    c.inputs = {Tensor::uniform({4, 7, 12}, rng, -1, 1), Tensor::uniform({6, 7, 12}, rng, -1, 1)};
    c.grad = {true, true};
    c.run = [&](const std::vector<Tensor>& in) {
      return adapt::info_nce(adapt::pool(in[0], Tensor::from_data({4}, lq), adapt::Pooling::Mean),
                             adapt::pool(in[1], Tensor::from_data({6}, ld), adapt::Pooling::Mean), 0.05f);
    };
    check_against_oracle(c);
    check_finite_differences(c);
    Rng r2(6);
    EXPECT_THROW(adapt::info_nce(Tensor::uniform({4, 8}, r2, -1, 1), Tensor::uniform({3, 8}, r2, -1, 1), 0.1f), ShapeError);
  }
  // Unit vectors, the direction kept.
  Rng rng(4);
  const Tensor x = Tensor::uniform({3, 16}, rng, -2, 2);
  const auto n = adapt::l2_normalize(x).to_vector(), v = x.to_vector();
  for (int r = 0; r < 3; ++r) {
    double norm = 0, dot = 0, xn = 0;
    for (int c = 0; c < 16; ++c) norm += n[r * 16 + c] * n[r * 16 + c], dot += n[r * 16 + c] * v[r * 16 + c], xn += v[r * 16 + c] * v[r * 16 + c];
    EXPECT_NEAR(norm, 1.0, 1e-6);
    EXPECT_NEAR(dot, std::sqrt(xn), 1e-5);
  }
  EXPECT_THROW(adapt::info_nce(x, x, 0.0f), ValueError);
  EXPECT_THROW(adapt::pooling_from_name("max"), ValueError);
}

TEST(Embedding, NpyFilesRoundTripWithNumpysHeader) {
  const std::string dir = fresh_temp_dir("npy");
  Rng rng(5);
  const Tensor m = Tensor::uniform({5, 33}, rng, -1, 1);
  io::save_npy(dir + "/m.npy", m);
  const std::string bytes = io::read_file(dir + "/m.npy");
  EXPECT_EQ(bytes.substr(0, 6), "\x93NUMPY");
  const size_t header = static_cast<unsigned char>(bytes[8]) | static_cast<size_t>(static_cast<unsigned char>(bytes[9])) << 8;
  EXPECT_EQ((10 + header) % 64, 0u) << "the data is 64-byte aligned";
  EXPECT_NE(bytes.find("'shape': (5, 33)"), std::string::npos);
  EXPECT_EQ(io::load_npy(dir + "/m.npy").to_vector(), m.to_vector());
  io::write_file_atomic(dir + "/bad.npy", bytes.substr(0, bytes.size() - 4));
  EXPECT_THROW(io::load_npy(dir + "/bad.npy"), FormatError);
  fs::remove_all(dir);
}

TEST(ModelInputs, EncodersFrameWithClsAndSepDecodersWithEndOfText) {
  const auto bert = tokenize::Tokenizer::load(fetch_dataset("bert-vocab") + "/vocab.txt");
  const adapt::InputFormat enc(bert, models::TextFraming::ClsSep, 10);
  const auto one = enc.text("the cat sat");
  EXPECT_EQ(one.ids, (std::vector<int32_t>{101, 1996, 4937, 2938, 102}));
  EXPECT_TRUE(one.segments.empty());
  // A pair: [CLS] a [SEP] b [SEP], segments 0 then 1; over 10 tokens the longer side is cut first.
  const auto pair = enc.pair("the cat sat on the mat", "a dog");
  EXPECT_EQ(pair.ids, (std::vector<int32_t>{101, 1996, 4937, 2938, 2006, 1996, 102, 1037, 3899, 102}));
  EXPECT_EQ(pair.segments, (std::vector<int32_t>{0, 0, 0, 0, 0, 0, 0, 1, 1, 1}));
  // Tagging: one label per word, on its first piece; [CLS] and [SEP] carry none.
  const auto words = enc.words({"The", "unaffable", "cat"});
  EXPECT_EQ(words.ids.front(), 101);
  EXPECT_EQ(words.ids.back(), 102);
  EXPECT_EQ(words.word_of, (std::vector<int32_t>{-1, 0, 1, -1, -1, 2, -1}));
  const auto padded = adapt::pad_batch({&one, &pair});
  EXPECT_EQ(padded.ids.shape(), Shape({2, 10}));
  EXPECT_EQ(padded.lengths.to_int_vector(), (std::vector<int32_t>{5, 10}));
  ASSERT_TRUE(padded.segments.defined());

  const auto gpt2 = tokenize::Tokenizer::load(fetch_dataset("gpt2-tokenizer"));
  const adapt::InputFormat dec(gpt2, models::TextFraming::EndOfText, 10);
  EXPECT_EQ(dec.text("Hello world!").ids, (std::vector<int32_t>{15496, 995, 0, 50256}));
  try {
    dec.pair("a", "b");
    FAIL() << "a decoder has no separator for pairs";
  } catch (const UnsupportedError& e) {
    EXPECT_NE(std::string(e.what()).find("a text pair needs an encoder"), std::string::npos) << e.what();
  }
  EXPECT_THROW(adapt::InputFormat(gpt2, models::TextFraming::ClsSep, 10), ValueError);  // no [CLS] / [SEP] to frame with
}
