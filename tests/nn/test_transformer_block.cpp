// A whole transformer block, assembled from its spec (GPT-2, Llama and BERT blocks, and decoder
// blocks with cross-attention to encoder states, pre-norm and post-norm): forward and every
// parameter gradient against the same block written in PyTorch, and finite differences.
#include <gtest/gtest.h>

#include <cmath>

#include "cornerstone/autograd/grad_mode.h"
#include "cornerstone/core/error.h"
#include "cornerstone/core/rng.h"
#include "cornerstone/nn/transformer.h"
#include "op_check.h"
#include "oracle.h"
#include "test_util.h"

using namespace cornerstone;
using namespace cornerstone::testing;

namespace {

struct Variant {
  const char* name;
  nn::BlockConfig cfg;
  float rope_theta;
  std::vector<int32_t> encoder_lengths = {};  // cross-attention blocks: padded encoder batch (empty: none)
};

constexpr int64_t kEncoderLen = 11;

std::vector<Variant> variants() {
  nn::BlockConfig gpt2;
  gpt2.d_model = 48, gpt2.n_heads = 4, gpt2.n_kv_heads = 4, gpt2.head_dim = 12, gpt2.d_ff = 192;
  nn::BlockConfig llama = gpt2;
  llama.n_kv_heads = 2, llama.norm = nn::NormKind::RMSNorm, llama.norm_eps = 1e-6f, llama.mlp = nn::MlpKind::SwiGLU;
  llama.bias = false, llama.d_ff = 128;
  nn::BlockConfig bert = gpt2;
  bert.pre_norm = false, bert.causal = false, bert.gelu = ops::GeluKind::Erf, bert.norm_eps = 1e-12f;
  // T5-style decoder block: pre-norm RMSNorm, no biases, GQA, causal self-attention + cross-attention.
  nn::BlockConfig t5 = llama;
  t5.cross_attention = true;
  // Marian / BART-style decoder block: post-norm LayerNorm with biases, encoder states of another width.
  nn::BlockConfig marian = bert;
  marian.causal = true, marian.cross_attention = true, marian.d_encoder = 40, marian.norm_eps = 1e-5f;
  return {{"gpt2", gpt2, 0.0f},
          {"llama", llama, 10000.0f},
          {"bert", bert, 0.0f},
          {"t5-decoder", t5, 10000.0f, {kEncoderLen, kEncoderLen}},
          {"marian-decoder", marian, 0.0f, {7, kEncoderLen}}};
}

// Encoder states (B, S, C_enc) for a cross-attention block, and their lengths.
nn::EncoderStates encoder_states(const Variant& v, int64_t B, Rng& rng) {
  if (!v.cfg.cross_attention) return {};
  nn::EncoderStates e;
  e.states = Tensor::uniform({B, kEncoderLen, v.cfg.encoder_width()}, rng, -1.0f, 1.0f);
  std::vector<int32_t> len(v.encoder_lengths.begin(), v.encoder_lengths.begin() + B);
  e.lengths = Tensor::from_data({B}, len);
  return e;
}

}  // namespace

TEST(TransformerBlock, ForwardAndGradientsMatchPyTorch) {
  for (const Variant& v : variants()) {
    SCOPED_TRACE(v.name);
    Rng rng(3);
    nn::BlockConfig cfg = v.cfg;
    cfg.init_std = 0.2f, cfg.proj_init_std = 0.2f;  // large enough that every path matters
    nn::TransformerBlock block(cfg, rng);
    // Perturb norm gains and biases away from 1 / 0 so their gradients are exercised.
    for (auto& [name, p] : block.named_parameters())
      if (p.ndim() == 1) p.copy_from(Tensor::uniform(p.shape(), rng, 0.5f, 1.5f));
    ops::RopeCache rope = v.rope_theta > 0 ? ops::RopeCache(v.rope_theta, cfg.head_dim, 64) : ops::RopeCache();

    Tensor x = Tensor::uniform({2, 19, cfg.d_model}, rng, -1.0f, 1.0f);
    Tensor xg = x.clone().requires_grad_();
    const nn::EncoderStates enc = encoder_states(v, 2, rng);
    nn::EncoderStates encg = enc;
    if (cfg.cross_attention) encg.states = enc.states.clone().requires_grad_();
    Tensor y = block.forward(xg, v.rope_theta > 0 ? &rope : nullptr, nullptr, Tensor(), cfg.cross_attention ? &encg : nullptr);
    Tensor seed = Tensor::uniform(y.shape(), rng, -1.0f, 1.0f);
    y.backward(seed);

    std::vector<Tensor> inputs{x};
    std::vector<bool> want{true};
    if (cfg.cross_attention) inputs.push_back(enc.states), want.push_back(true);
    nlohmann::json names = nlohmann::json::array();
    const auto params = block.named_parameters();
    for (const auto& [name, p] : params) {
      inputs.push_back(p.detach());
      want.push_back(true);
      names.push_back(name);
    }
    nlohmann::json attrs = {{"names", names},
                            {"norm", cfg.norm == nn::NormKind::LayerNorm ? "layernorm" : "rmsnorm"},
                            {"eps", cfg.norm_eps},
                            {"mlp", cfg.mlp == nn::MlpKind::Gelu ? "gelu" : "swiglu"},
                            {"gelu", cfg.gelu == ops::GeluKind::Tanh ? "tanh" : "erf"},
                            {"n_heads", cfg.n_heads},
                            {"n_kv_heads", cfg.n_kv_heads},
                            {"head_dim", cfg.head_dim},
                            {"causal", cfg.causal},
                            {"pre_norm", cfg.pre_norm},
                            {"rope_theta", v.rope_theta},
                            {"cross_attention", cfg.cross_attention}};
    if (cfg.cross_attention) attrs["encoder_lengths"] = enc.lengths.to_int_vector();
    // Float32 rounding legitimately differs between two correct implementations of a whole block
    // (GEMM summation orders, exp/erf approximations): require Cornerstone to be as close to the
    // float64 result as PyTorch's float32 is, and close to PyTorch float32 itself.
    const auto ref = Oracle::instance().run("transformer_block", inputs, attrs, seed, want);
    nlohmann::json a64 = attrs;
    a64["float64"] = true;
    const auto exact = Oracle::instance().run("transformer_block", inputs, a64, seed, want);
    EXPECT_TRUE(as_accurate_as_torch(y.detach(), ref.outputs[0], exact.outputs[0])) << "block output";
    EXPECT_TRUE(all_close(y.detach(), ref.outputs[0], 1e-4, 1e-4)) << "block output vs float32";
    EXPECT_TRUE(as_accurate_as_torch(xg.grad(), ref.grads[0], exact.grads[0])) << "input gradient";
    const size_t first = cfg.cross_attention ? 2 : 1;  // the parameters' place among the inputs
    if (cfg.cross_attention) {
      EXPECT_TRUE(as_accurate_as_torch(encg.states.grad(), ref.grads[1], exact.grads[1])) << "encoder states gradient";
      EXPECT_TRUE(all_close(encg.states.grad(), ref.grads[1], 1e-3, 1e-4)) << "encoder states gradient vs float32";
    }
    for (size_t i = 0; i < params.size(); ++i) {
      EXPECT_TRUE(as_accurate_as_torch(params[i].second.grad(), ref.grads[i + first], exact.grads[i + first])) << params[i].first;
      EXPECT_TRUE(all_close(params[i].second.grad(), ref.grads[i + first], 1e-3, 1e-4)) << params[i].first << " vs float32";
    }
  }
}

TEST(TransformerBlock, ParameterNamesAreStable) {
  Rng rng(1);
  nn::BlockConfig cfg;
  cfg.d_model = 16, cfg.n_heads = 2, cfg.n_kv_heads = 2, cfg.head_dim = 8, cfg.d_ff = 32;
  nn::TransformerBlock gpt2(cfg, rng);
  std::vector<std::string> names;
  for (const auto& [n, p] : gpt2.named_parameters()) names.push_back(n);
  EXPECT_EQ(names, (std::vector<std::string>{"norm1.weight", "norm1.bias", "attn.qkv.weight", "attn.qkv.bias",
                                             "attn.proj.weight", "attn.proj.bias", "norm2.weight", "norm2.bias",
                                             "mlp.fc.weight", "mlp.fc.bias", "mlp.proj.weight", "mlp.proj.bias"}));
  cfg.mlp = nn::MlpKind::SwiGLU, cfg.norm = nn::NormKind::RMSNorm, cfg.bias = false;
  nn::TransformerBlock llama(cfg, rng);
  names.clear();
  for (const auto& [n, p] : llama.named_parameters()) names.push_back(n);
  EXPECT_EQ(names, (std::vector<std::string>{"norm1.weight", "attn.qkv.weight", "attn.proj.weight", "norm2.weight",
                                             "mlp.gate_up.weight", "mlp.down.weight"}));
  EXPECT_EQ(gpt2.parameter("attn.qkv.weight").shape(), Shape({48, 16}));
  EXPECT_THROW(gpt2.parameter("attn.q.weight"), ValueError);

  // Cross-attention goes between the self-attention and the feed-forward; the other names stay.
  cfg.cross_attention = true, cfg.d_encoder = 24, cfg.n_kv_heads = 1;
  nn::TransformerBlock decoder(cfg, rng);
  names.clear();
  for (const auto& [n, p] : decoder.named_parameters()) names.push_back(n);
  EXPECT_EQ(names, (std::vector<std::string>{"norm1.weight", "attn.qkv.weight", "attn.proj.weight", "norm_cross.weight",
                                             "cross_attn.q.weight", "cross_attn.kv.weight", "cross_attn.proj.weight",
                                             "norm2.weight", "mlp.gate_up.weight", "mlp.down.weight"}));
  EXPECT_EQ(decoder.parameter("cross_attn.q.weight").shape(), Shape({16, 16}));
  EXPECT_EQ(decoder.parameter("cross_attn.kv.weight").shape(), Shape({16, 24}));  // [k | v] of one kv head, from C_enc

  // A cross-attention block needs encoder states; a block without one refuses them.
  Rng r2(2);
  const Tensor x = Tensor::uniform({1, 3, 16}, r2, -1.0f, 1.0f);
  EXPECT_THROW(decoder.forward(x), ValueError);
  const nn::EncoderStates enc{Tensor::uniform({1, 5, 24}, r2, -1.0f, 1.0f), Tensor()};
  EXPECT_EQ(decoder.forward(x, nullptr, nullptr, Tensor(), &enc).shape(), Shape({1, 3, 16}));
  EXPECT_THROW(llama.forward(x, nullptr, nullptr, Tensor(), &enc), ValueError);
}

TEST(TransformerBlock, CheckpointedCrossAttentionBlocksMatchPlainOnes) {
  // forward_blocks with activation checkpointing recomputes each block in the backward pass with
  // the encoder states it saw (held by value: the caller's EncoderStates is gone by then).
  Rng rng(5);
  nn::BlockConfig cfg;
  cfg.d_model = 32, cfg.n_heads = 4, cfg.n_kv_heads = 4, cfg.head_dim = 8, cfg.d_ff = 64, cfg.cross_attention = true;
  std::vector<std::shared_ptr<nn::TransformerBlock>> blocks;
  for (int i = 0; i < 2; ++i) blocks.push_back(std::make_shared<nn::TransformerBlock>(cfg, rng));
  const Tensor x = Tensor::uniform({2, 6, 32}, rng, -1.0f, 1.0f), seed = Tensor::uniform({2, 6, 32}, rng, -1.0f, 1.0f);
  const Tensor states = Tensor::uniform({2, 9, 32}, rng, -1.0f, 1.0f);
  std::vector<std::vector<float>> grads[2];
  for (int ckpt = 0; ckpt < 2; ++ckpt) {
    for (auto& b : blocks) b->zero_grad();
    Tensor xg = x.clone().requires_grad_();
    {
      const nn::EncoderStates enc{states, Tensor::from_data({2}, std::vector<int32_t>{9, 4})};
      Tensor y = nn::forward_blocks(blocks, xg, nullptr, nullptr, Tensor(), ckpt == 1, &enc);
      y.backward(seed);
    }
    grads[ckpt].push_back(xg.grad().to_vector());
    for (auto& b : blocks)
      for (const auto& [n, p] : b->named_parameters()) grads[ckpt].push_back(p.grad().to_vector());
  }
  EXPECT_EQ(grads[0], grads[1]);
  // Encoder states that need gradients cannot be checkpointed through (their gradient would be lost).
  const nn::EncoderStates trainable{states.clone().requires_grad_(), Tensor()};
  EXPECT_THROW(nn::forward_blocks(blocks, x, nullptr, nullptr, Tensor(), true, &trainable), UnsupportedError);
}

TEST(TransformerBlock, GradientsMatchFiniteDifferences) {
  // Central differences of L = sum(seed * block(x)) for the input and every parameter tensor,
  // a handful of elements each (GPT-2 and Llama variants).
  for (const Variant& v : variants()) {
    if (std::string(v.name) == "bert") continue;  // same kernels as gpt2, post-norm covered by the oracle test
    SCOPED_TRACE(v.name);
    Rng rng(21);
    nn::BlockConfig cfg = v.cfg;
    cfg.init_std = 0.2f, cfg.proj_init_std = 0.2f;
    nn::TransformerBlock block(cfg, rng);
    ops::RopeCache rope = v.rope_theta > 0 ? ops::RopeCache(v.rope_theta, cfg.head_dim, 64) : ops::RopeCache();
    const ops::RopeCache* r = v.rope_theta > 0 ? &rope : nullptr;
    Tensor x = Tensor::uniform({1, 7, cfg.d_model}, rng, -1.0f, 1.0f).requires_grad_();
    const Tensor seed = Tensor::uniform({1, 7, cfg.d_model}, rng, -1.0f, 1.0f);
    nn::EncoderStates enc = encoder_states(v, 1, rng);
    if (cfg.cross_attention) enc.states.requires_grad_();
    const nn::EncoderStates* e = cfg.cross_attention ? &enc : nullptr;
    block.forward(x, r, nullptr, Tensor(), e).backward(seed);
    auto loss = [&]() {
      autograd::NoGradGuard no_grad;
      const nn::EncoderStates plain{enc.states.defined() ? enc.states.detach() : Tensor(), enc.lengths};
      const auto y = block.forward(x.detach(), r, nullptr, Tensor(), e ? &plain : nullptr).to_vector(), s = seed.to_vector();
      double acc = 0;
      for (size_t i = 0; i < y.size(); ++i) acc += static_cast<double>(y[i]) * s[i];
      return acc;
    };
    std::vector<std::pair<std::string, Tensor>> targets;
    targets.emplace_back("x", x);
    if (cfg.cross_attention) targets.emplace_back("encoder states", enc.states);
    for (const auto& p : block.named_parameters()) targets.push_back(p);
    for (auto& [name, t] : targets) {
      const std::vector<float> analytic = t.grad().to_vector();
      float* data = t.detach().data<float>();
      double diff2 = 0, ref2 = 0;
      const int64_t n = t.numel(), step = std::max<int64_t>(1, n / 6);
      for (int64_t j = 0; j < n; j += step) {
        const float orig = data[j];
        const float eps = 1e-2f;
        data[j] = orig + eps;
        const double up = loss();
        data[j] = orig - eps;
        const double down = loss();
        data[j] = orig;
        const double numeric = (up - down) / (2.0 * eps);
        diff2 += (numeric - analytic[static_cast<size_t>(j)]) * (numeric - analytic[static_cast<size_t>(j)]);
        ref2 += static_cast<double>(analytic[static_cast<size_t>(j)]) * analytic[static_cast<size_t>(j)];
      }
      EXPECT_LE(std::sqrt(diff2), 2e-2 * std::sqrt(ref2) + 1e-3) << name;
    }
  }
}
