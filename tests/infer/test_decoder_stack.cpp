// A decoder family the runner has never heard of generates with a KV cache: a test-only model built
// from standard blocks in a combination neither GPT-2 nor Llama uses (RMSNorm with GELU (erf) MLPs
// and biases, learned positions, GQA, untied head) under parameter names of its own. Its config
// describes its stack (ModelConfig::decoder_stack()); InferenceWeights and DecoderRunner do the rest.
// Also: models without a runnable stack are refused with a message naming why.
#include <gtest/gtest.h>

#include "cornerstone/core/error.h"
#include "cornerstone/infer/decoder_runner.h"
#include "cornerstone/models/bert/bert.h"
#include "cornerstone/nn/transformer.h"
#include "cornerstone/ops/elementwise.h"
#include "cornerstone/ops/embedding.h"
#include "cornerstone/ops/linear.h"
#include "infer_test.h"
#include "kernels/kernel_test.h"

namespace cornerstone::testing {
namespace {

class ToyFamily : public models::Family {
 public:
  std::string name() const override { return "toy"; }
  std::vector<std::string> archs() const override { return {"toy"}; }
  std::string pretraining_objective() const override { return "causal_lm"; }
  std::vector<std::string> presets() const override { return {}; }
  std::unique_ptr<models::ModelConfig> preset(const std::string&) const override { return nullptr; }
  std::unique_ptr<models::ModelConfig> config_from_json(const nlohmann::json&, const std::string&) const override { return nullptr; }
  std::unique_ptr<models::ModelConfig> config_from_hf(const nlohmann::json&, const std::string&) const override { return nullptr; }
};
const ToyFamily kToyFamily;  // not registered: the runner never looks families up

struct ToyConfig : models::ModelConfig {
  models::DecoderStack stack;
  ToyConfig() {
    stack.vocab_size = 83, stack.context = 40, stack.n_layers = 2;
    nn::BlockConfig& b = stack.block;
    b.d_model = 64, b.n_heads = 4, b.n_kv_heads = 2, b.head_dim = 16, b.d_ff = 96;
    b.norm = nn::NormKind::RMSNorm, b.norm_eps = 1e-6f, b.mlp = nn::MlpKind::Gelu, b.gelu = kernels::GeluKind::Erf, b.bias = true;
    b.init_std = b.proj_init_std = 0.1f;
    stack.token_embedding = "embed.weight", stack.position_embedding = "pos.weight", stack.blocks = "layers.";
    stack.final_norm = "final.", stack.lm_head = "head.weight";
  }
  const models::Family& family() const override { return kToyFamily; }
  std::unique_ptr<models::ModelConfig> clone() const override { return std::make_unique<ToyConfig>(*this); }
  std::string model_type() const override { return "toy"; }
  nlohmann::json to_json() const override { return {{"arch", "toy"}}; }
  nlohmann::json hf_config() const override { return {{"model_type", "toy"}}; }
  void validate() const override {}
  int64_t vocabulary_size() const override { return stack.vocab_size; }
  int64_t max_positions() const override { return stack.context; }
  int64_t num_parameters() const override { return 0; }
  double train_flops_per_token(int64_t, double) const override { return 0; }
  std::unique_ptr<models::PretrainedModel> create(uint64_t seed, bool) const override;
  std::optional<models::DecoderStack> decoder_stack() const override { return stack; }
};

// ids -> embed + pos -> blocks -> final RMSNorm -> head: the training forward pass.
class ToyDecoder : public models::PretrainedModel, public models::CausalLM {
 public:
  ToyDecoder(const ToyConfig& c, uint64_t seed) : cfg_(c) {
    Rng rng(seed);
    const auto& s = c.stack;
    embed_ = register_module("embed", std::make_shared<nn::Embedding>(s.vocab_size, s.block.d_model, rng, 0.1f));
    pos_ = register_module("pos", std::make_shared<nn::Embedding>(s.context, s.block.d_model, rng, 0.1f));
    for (int64_t i = 0; i < s.n_layers; ++i)
      blocks_.push_back(register_module("layers." + std::to_string(i), std::make_shared<nn::TransformerBlock>(s.block, rng)));
    final_ = register_module("final", std::make_shared<nn::Norm>(s.block.norm, s.block.d_model, s.block.norm_eps, true));
    head_ = register_parameter("head.weight", Tensor::randn({s.vocab_size, s.block.d_model}, rng, 0.1f));
    // Norm gains and biases away from 1 / 0, so that a misplaced one shows.
    for (auto& [n, p] : named_parameters())
      if (p.ndim() == 1) p.copy_from(Tensor::uniform(p.shape(), rng, 0.5f, 1.5f));
  }
  const models::ModelConfig& config() const override { return cfg_; }
  Tensor hidden(const Tensor& ids) const {
    Tensor x = ops::add_positions(embed_->forward(ids), pos_->weight());
    return final_->forward(nn::forward_blocks(blocks_, x, nullptr, nullptr, Tensor(), false));
  }
  Tensor logits(const Tensor& h) const override { return ops::linear(h, head_); }
  Tensor lm_loss(const data::Batch&, Rng*) const override { throw UnsupportedError("toy"); }
  models::TextFraming text_framing() const override { return models::TextFraming::EndOfText; }
  int64_t hidden_size() const override { return cfg_.stack.block.d_model; }
  float init_std() const override { return 0.1f; }
  std::vector<std::pair<std::string, Tensor>> hf_state_dict() const override { return {}; }
  void load_hf_state_dict(const models::TensorSource&, const std::string&) override {}
  Tensor hidden_states(const data::Batch& b, Rng*) const override { return hidden(b.get(data::batch_keys::ids, "toy")); }
  Tensor sequence_features(const Tensor& h, const Tensor&) const override { return h; }
  HeadNames sequence_head() const override { return {"score", false}; }
  std::vector<models::LinearSite> linear_sites() const override { return {}; }
  void set_checkpoint_activations(bool) override {}

 private:
  ToyConfig cfg_;
  std::shared_ptr<nn::Embedding> embed_, pos_;
  std::vector<std::shared_ptr<nn::TransformerBlock>> blocks_;
  std::shared_ptr<nn::Norm> final_;
  Tensor head_;
};

std::unique_ptr<models::PretrainedModel> ToyConfig::create(uint64_t seed, bool) const { return std::make_unique<ToyDecoder>(*this, seed); }

TEST(DecoderStack, AFamilyBuiltFromStandardBlocksRunsOnTheRunnerWithoutOneOfItsOwn) {
  const ToyConfig cfg;
  const ToyDecoder model(cfg, 5);
  const auto ids = random_tokens(17, cfg.stack.vocab_size, 6);
  const Tensor t = Tensor::from_data({1, 17}, ids);
  const std::vector<float> want = model.logits(model.hidden(t)).to_vector();
  const int64_t V = cfg.stack.vocab_size;

  for (auto f : {kernels::WeightFormat::F32, kernels::WeightFormat::Q8_0}) {
    SCOPED_TRACE(kernels::weight_format_name(f));
    infer::DecoderRunner run(infer::InferenceWeights::from_model(model, f));
    infer::KVCache cache(run.weights().config(), 1, cfg.stack.context);
    const std::span<const int32_t> all(ids);
    // A 9-token prompt, then one token at a time: every step against the training forward pass.
    std::vector<float> got = run.forward_all(cache, {{0, all.subspan(0, 9)}}).to_vector();
    for (size_t i = 9; i < ids.size(); ++i) {
      const std::vector<float> step = run.forward(cache, {{0, all.subspan(i, 1)}}).to_vector();
      got.insert(got.end(), step.begin(), step.end());
    }
    ASSERT_EQ(got.size(), want.size());
    const double tol = f == kernels::WeightFormat::F32 ? 1e-4 : 5e-2;
    EXPECT_TRUE(all_close(got, want, tol, tol));
    EXPECT_EQ(run.weights().layers().front().up.out_features(), 96);  // GELU MLP: fc, not gate_up
    EXPECT_TRUE(run.weights().position_embedding().defined());
    EXPECT_EQ(run.weights().rope(), nullptr);
  }
  (void)V;
}

TEST(DecoderStack, ModelsWithoutARunnableStackAreRefusedByName) {
  // An encoder has no decoder stack.
  models::EncoderConfig enc;
  enc.vocab_size = 50, enc.context = 16, enc.n_layers = 1, enc.d_model = 32, enc.n_heads = 2, enc.d_ff = 64;
  const models::BERT bert(enc, 1);
  EXPECT_THROW(infer::InferenceWeights::from_model(bert, kernels::WeightFormat::F32), UnsupportedError);

  // A stack whose blocks the runner does not run (post-norm) is named.
  ToyConfig post;
  post.stack.block.pre_norm = false;
  const ToyDecoder model(post, 2);
  try {
    infer::InferenceWeights::from_model(model, kernels::WeightFormat::F32);
    FAIL() << "expected UnsupportedError";
  } catch (const UnsupportedError& e) {
    EXPECT_NE(std::string(e.what()).find("post-norm"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace cornerstone::testing
