// The inference forward pass against the training model's forward pass (both families), prompt +
// incremental decoding against one full pass, ragged batches against sequences alone (bitwise),
// every weight format against f32, and bad input.
#include <gtest/gtest.h>

#include <cmath>

#include "cornerstone/core/error.h"
#include "cornerstone/core/parallel.h"
#include "cornerstone/infer/decoder_runner.h"
#include "cornerstone/models/gpt/gpt.h"
#include "infer_test.h"
#include "kernels/kernel_test.h"

namespace cornerstone::testing {
namespace {

using infer::DecoderRunner;
using infer::InferenceWeights;
using infer::KVCache;
using infer::SeqChunk;
using kernels::WeightFormat;

const models::DecoderArch kArchs[] = {models::DecoderArch::GPT2, models::DecoderArch::Llama};

// Logits (T, V) of the training model on one sequence.
std::vector<float> reference_logits(const models::GPT& model, const std::vector<int32_t>& ids) {
  const Tensor t = Tensor::from_data({1, static_cast<int64_t>(ids.size())}, ids);
  return model.logits(model.hidden(t)).to_vector();
}

std::vector<float> row(const Tensor& logits, int64_t r) {
  const int64_t V = logits.size(1);
  return {logits.data<float>() + r * V, logits.data<float>() + (r + 1) * V};
}

TEST(DecoderRunner, PromptAndDecodeStepsMatchTheTrainingForwardPass) {
  for (auto arch : kArchs) {
    SCOPED_TRACE(models::arch_name(arch));
    const models::DecoderConfig cfg = small_decoder(arch);
    const models::GPT model(cfg, 3);
    const auto ids = random_tokens(20, cfg.vocab_size, 4);
    const auto want = reference_logits(model, ids);
    const int64_t V = cfg.vocab_size;

    DecoderRunner run(InferenceWeights::from_model(model, WeightFormat::F32));
    KVCache cache(*cfg.decoder_stack(), 1, cfg.context);
    // A 12-token prompt, then the rest one token at a time.
    const std::span<const int32_t> all(ids);
    Tensor l = run.forward(cache, {{0, all.subspan(0, 12)}});
    EXPECT_TRUE(all_close(row(l, 0), {want.begin() + 11 * V, want.begin() + 12 * V}, 1e-4, 1e-4));
    for (size_t t = 12; t < ids.size(); ++t) {
      l = run.forward(cache, {{0, all.subspan(t, 1)}});
      ASSERT_TRUE(all_close(row(l, 0), {want.begin() + static_cast<long>(t) * V, want.begin() + static_cast<long>(t + 1) * V}, 1e-4, 1e-4))
          << "position " << t;
    }
    EXPECT_EQ(cache.length(0), 20);

    // Every row's logits at once (scoring).
    KVCache fresh(*cfg.decoder_stack(), 1, cfg.context);
    const Tensor every = run.forward_all(fresh, {{0, all}});
    EXPECT_EQ(every.size(0), 20);
    EXPECT_TRUE(all_close(every.to_vector(), want, 1e-4, 1e-4));
  }
}

TEST(DecoderRunner, RaggedBatchGivesBitwiseTheLogitsOfEachSequenceAlone) {
  for_each_isa([](cpu::Isa) {
    for (auto arch : kArchs) {
      SCOPED_TRACE(models::arch_name(arch));
      const models::DecoderConfig cfg = small_decoder(arch);
      const models::GPT model(cfg, 5);
      for (WeightFormat f : {WeightFormat::F32, WeightFormat::BF16, WeightFormat::Q8_0, WeightFormat::Q4_0}) {
        SCOPED_TRACE(std::string(kernels::weight_format_name(f)));
        DecoderRunner run(InferenceWeights::from_model(model, f));
        const std::vector<std::vector<int32_t>> prompts = {random_tokens(9, cfg.vocab_size, 1), random_tokens(3, cfg.vocab_size, 2),
                                                           random_tokens(17, cfg.vocab_size, 3)};
        // Together: prompts in one pass, then three decode steps of one token each.
        KVCache together(*cfg.decoder_stack(), 3, cfg.context);
        std::vector<SeqChunk> chunks;
        for (size_t i = 0; i < prompts.size(); ++i) chunks.push_back({static_cast<int64_t>(i), prompts[i]});
        std::vector<Tensor> batched = {run.forward(together, chunks)};
        const std::vector<int32_t> next = {7, 8, 9};
        for (int step = 0; step < 3; ++step) {
          chunks.clear();
          for (size_t i = 0; i < prompts.size(); ++i) chunks.push_back({static_cast<int64_t>(i), std::span<const int32_t>(&next[i], 1)});
          batched.push_back(run.forward(together, chunks));
        }
        // Alone, each in its own cache.
        for (size_t i = 0; i < prompts.size(); ++i) {
          KVCache alone(*cfg.decoder_stack(), 1, cfg.context);
          Tensor l = run.forward(alone, {{0, prompts[i]}});
          ASSERT_TRUE(bitwise_equal(row(l, 0), row(batched[0], static_cast<int64_t>(i)))) << "prompt " << i;
          for (int step = 0; step < 3; ++step) {
            l = run.forward(alone, {{0, std::span<const int32_t>(&next[i], 1)}});
            ASSERT_TRUE(bitwise_equal(row(l, 0), row(batched[static_cast<size_t>(step) + 1], static_cast<int64_t>(i))))
                << "sequence " << i << ", step " << step;
          }
        }
      }
    }
  });
}

TEST(DecoderRunner, ThreadCountDoesNotChangeTheLogits) {
  // The pass shares its ops between the threads of one region; each output is still computed by one
  // thread in a fixed order. 40 rows make the region use every thread.
  for (auto arch : kArchs) {
    SCOPED_TRACE(models::arch_name(arch));
    const models::DecoderConfig cfg = small_decoder(arch);
    const models::GPT model(cfg, 8);
    const auto a = random_tokens(25, cfg.vocab_size, 1), b = random_tokens(15, cfg.vocab_size, 2);
    for (WeightFormat f : {WeightFormat::F32, WeightFormat::Q4_0}) {
      std::vector<std::vector<float>> out;
      for (int threads : {1, 2, 3}) {
        ThreadsScope scope(threads);
        set_num_threads(threads);
        DecoderRunner run(InferenceWeights::from_model(model, f));
        KVCache cache(*cfg.decoder_stack(), 2, cfg.context);
        out.push_back(run.forward_all(cache, {{0, a}, {1, b}}).to_vector());
      }
      set_num_threads(0);
      EXPECT_TRUE(bitwise_equal(out[0], out[1])) << kernels::weight_format_name(f);
      EXPECT_TRUE(bitwise_equal(out[0], out[2])) << kernels::weight_format_name(f);
    }
  }
}

TEST(DecoderRunner, WeightFormatsStayCloseToF32) {
  // Relative RMS distance of the logits from f32 on a random model (weights of std 0.1, no structure
  // to preserve): bf16 rounds weights and activations to 8 bits of mantissa, q8_0 / q4_0 quantize
  // both per 32-block; the error compounds over the layers. Measured here: bf16 ~0.3%, q8_0 ~2%,
  // q4_0 ~25%; a wrong kernel gives ~100%. The quality that matters, perplexity of a trained model,
  // is tested in test_quality.cpp.
  for (auto arch : kArchs) {
    SCOPED_TRACE(models::arch_name(arch));
    const models::DecoderConfig cfg = small_decoder(arch);
    const models::GPT model(cfg, 9);
    const auto ids = random_tokens(30, cfg.vocab_size, 10);
    auto logits = [&](WeightFormat f) {
      DecoderRunner run(InferenceWeights::from_model(model, f));
      KVCache cache(*cfg.decoder_stack(), 1, cfg.context);
      return run.forward_all(cache, {{0, ids}}).to_vector();
    };
    const auto ref = logits(WeightFormat::F32);
    double previous = 0;
    for (auto [f, tol] : {std::pair{WeightFormat::BF16, 0.01}, std::pair{WeightFormat::Q8_0, 0.04}, std::pair{WeightFormat::Q4_0, 0.4}}) {
      const auto got = logits(f);
      double err = 0, norm = 0;
      for (size_t i = 0; i < ref.size(); ++i) err += (got[i] - ref[i]) * (got[i] - ref[i]), norm += ref[i] * ref[i];
      const double rel = std::sqrt(err / norm);
      EXPECT_LT(rel, tol) << kernels::weight_format_name(f);
      EXPECT_GT(rel, previous) << kernels::weight_format_name(f) << " should lose more than the format before it";
      previous = rel;
    }
  }
}

TEST(DecoderRunner, BadInputIsAnErrorNotACrash) {
  const models::DecoderConfig cfg = small_decoder(models::DecoderArch::GPT2);
  const models::GPT model(cfg, 1);
  DecoderRunner run(InferenceWeights::from_model(model, WeightFormat::Q8_0));
  KVCache cache(*cfg.decoder_stack(), 2, cfg.context);
  const auto too_long = random_tokens(static_cast<size_t>(cfg.context) + 1, cfg.vocab_size, 1);
  EXPECT_THROW(run.forward(cache, {{0, too_long}}), ShapeError);
  const std::vector<int32_t> bad = {1, static_cast<int32_t>(cfg.vocab_size)};
  EXPECT_THROW(run.forward(cache, {{0, bad}}), ValueError);
  EXPECT_THROW(run.forward(cache, {{0, {}}}), ValueError);
  EXPECT_THROW(run.forward(cache, {}), ValueError);
  const std::vector<int32_t> one = {1};
  EXPECT_THROW(run.forward(cache, {{1, one}, {1, one}}), ValueError);  // one slot twice
  EXPECT_EQ(cache.length(0), 0) << "a rejected call leaves the cache alone";
  // The cache's own limit, below the context.
  KVCache small(*cfg.decoder_stack(), 1, 8);
  EXPECT_THROW(run.forward(small, {{0, random_tokens(9, cfg.vocab_size, 2)}}), ShapeError);
}

}  // namespace
}  // namespace cornerstone::testing
