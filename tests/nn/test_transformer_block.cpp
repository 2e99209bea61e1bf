// A whole transformer block, GPT-2 style and Llama style, forward and every parameter gradient
// against the same block written in PyTorch.
#include <gtest/gtest.h>

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
};

std::vector<Variant> variants() {
  nn::BlockConfig gpt2;
  gpt2.d_model = 48, gpt2.n_heads = 4, gpt2.n_kv_heads = 4, gpt2.head_dim = 12, gpt2.d_ff = 192;
  nn::BlockConfig llama = gpt2;
  llama.n_kv_heads = 2, llama.norm = nn::NormKind::RMSNorm, llama.norm_eps = 1e-6f, llama.mlp = nn::MlpKind::SwiGLU;
  llama.bias = false, llama.d_ff = 128;
  nn::BlockConfig bert = gpt2;
  bert.pre_norm = false, bert.causal = false, bert.gelu = ops::GeluKind::Erf, bert.norm_eps = 1e-12f;
  return {{"gpt2", gpt2, 0.0f}, {"llama", llama, 10000.0f}, {"bert", bert, 0.0f}};
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
    Tensor y = block.forward(xg, v.rope_theta > 0 ? &rope : nullptr);
    Tensor seed = Tensor::uniform(y.shape(), rng, -1.0f, 1.0f);
    y.backward(seed);

    std::vector<Tensor> inputs{x};
    std::vector<bool> want{true};
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
                            {"rope_theta", v.rope_theta}};
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
    for (size_t i = 0; i < params.size(); ++i) {
      EXPECT_TRUE(as_accurate_as_torch(params[i].second.grad(), ref.grads[i + 1], exact.grads[i + 1])) << params[i].first;
      EXPECT_TRUE(all_close(params[i].second.grad(), ref.grads[i + 1], 1e-3, 1e-4)) << params[i].first << " vs float32";
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
}
