// The model registry (models/family.h): lookups by arch, config.json model_type and GGUF
// architecture, presets, errors that name what exists; and the claim the registry makes, shown
// with a family defined in this file alone: registered, it is pretrained by the one trainer,
// checkpointed, and reopened by load_model() and cornerstone::load() with nothing else changed.
#include <gtest/gtest.h>

#include <algorithm>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "cornerstone/core/error.h"
#include "cornerstone/cornerstone.h"
#include "cornerstone/data/token_shards.h"
#include "cornerstone/models/family.h"
#include "cornerstone/models/gpt/gpt.h"
#include "cornerstone/models/gpt/gpt_hf.h"
#include "cornerstone/models/load.h"
#include "cornerstone/train/pretrain_config.h"
#include "cornerstone/train/trainer.h"

namespace cornerstone {
namespace {

namespace fs = std::filesystem;

// ---- a family that lives in this file only ---------------------------------------------------
// "toy": a GPT-2-shaped decoder under its own arch and model_type (what a new family's folder
// would hold, minus new math).

const models::Family& toy_family();

struct ToyConfig : models::DecoderConfig {
  const models::Family& family() const override { return toy_family(); }
  std::unique_ptr<models::ModelConfig> clone() const override { return std::make_unique<ToyConfig>(*this); }
  std::string model_type() const override { return "toy"; }
  nlohmann::json to_json() const override {
    auto j = DecoderConfig::to_json();
    j["arch"] = "toy";
    return j;
  }
  nlohmann::json hf_config() const override {
    auto j = DecoderConfig::hf_config();
    j["model_type"] = "toy";
    return j;
  }
  std::unique_ptr<models::PretrainedModel> create(uint64_t seed, bool random_init) const override;
};

class Toy : public models::GPT {
 public:
  Toy(const ToyConfig& c, uint64_t seed, bool random_init) : GPT(c, seed, random_init), toy_(c) {}
  const ToyConfig& config() const override { return toy_; }

 private:
  ToyConfig toy_;
};

std::unique_ptr<models::PretrainedModel> ToyConfig::create(uint64_t seed, bool random_init) const {
  return std::make_unique<Toy>(*this, seed, random_init);
}

ToyConfig toy_from(models::DecoderConfig d) {
  ToyConfig t;
  static_cast<models::DecoderConfig&>(t) = d;
  return t;
}

class ToyFamily : public models::Family {
 public:
  std::string name() const override { return "toy"; }
  std::vector<std::string> archs() const override { return {"toy"}; }
  std::string pretraining_objective() const override { return "causal_lm"; }
  std::vector<std::string> presets() const override { return {"toy-nano"}; }
  std::unique_ptr<models::ModelConfig> preset(const std::string&) const override {
    models::DecoderConfig d;
    d.vocab_size = 64, d.context = 32, d.n_layers = 1, d.d_model = 32, d.n_heads = 2, d.n_kv_heads = 2, d.d_ff = 64;
    return std::make_unique<ToyConfig>(toy_from(d));
  }
  nlohmann::json preset_training(const std::string&) const override {
    return {{"batch_size", 4}, {"steps", 6}, {"eval_every", 3}, {"warmup_steps", 1}, {"checkpoint_every", 3}};
  }
  std::unique_ptr<models::ModelConfig> config_from_json(const nlohmann::json& j, const std::string& where) const override {
    auto g = j;
    g["arch"] = "gpt2";
    return std::make_unique<ToyConfig>(toy_from(models::DecoderConfig::from_json(g, models::DecoderConfig(), where)));
  }
  std::unique_ptr<models::ModelConfig> config_from_hf(const nlohmann::json& j, const std::string& source) const override {
    auto g = j;
    g["model_type"] = "gpt2";
    return std::make_unique<ToyConfig>(toy_from(models::config_from_hf(g, source)));
  }
};

const models::Family& toy_family() {
  static const ToyFamily f;
  return f;
}

CORNERSTONE_MODEL_FAMILY(toy_family())

// ---- lookups ------------------------------------------------------------------------------------

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(Registry, FindsFamiliesByArchModelTypeGgufAndPreset) {
  std::vector<std::string> names;
  for (const models::Family* f : models::families()) names.push_back(f->name());
  for (const char* n : {"bert", "gpt", "toy"}) EXPECT_NE(std::find(names.begin(), names.end(), n), names.end()) << n;

  EXPECT_EQ(models::family_of_arch("llama", "cfg").name(), "gpt");
  EXPECT_EQ(models::family_of_arch("bert", "cfg").name(), "bert");
  EXPECT_EQ(models::family_of_hf_config({{"model_type", "mistral"}}, "config.json").name(), "gpt");
  EXPECT_EQ(models::family_of_hf_config(nlohmann::json::object(), "config.json").name(), "gpt") << "no model_type: GPT-2";
  ASSERT_NE(models::family_of_gguf_arch("llama"), nullptr);
  EXPECT_EQ(models::family_of_gguf_arch("bert"), nullptr) << "the bert family has no GGUF layout";
  EXPECT_EQ(models::family_of_preset("bert-mini")->name(), "bert");
  EXPECT_EQ(models::family_of_preset("llama-tiny")->name(), "gpt");
  EXPECT_EQ(models::family_of_preset("nope"), nullptr);

  const std::string arch = error_of([] { models::family_of_arch("t5", "cfg.model.arch"); });
  EXPECT_NE(arch.find("cfg.model.arch: unknown arch 't5' (known: bert, bit, clip, gpt2, llama, toy, vit)"), std::string::npos) << arch;
  const std::string type = error_of([] { models::family_of_hf_config({{"model_type", "t5"}}, "x/config.json"); });
  EXPECT_NE(type.find("x/config.json: model_type 't5' is not supported"), std::string::npos) << type;
  const std::string preset = error_of([] { models::model_config_from_json("gpt3", "cfg.model"); });
  EXPECT_NE(preset.find("unknown model preset 'gpt3'"), std::string::npos) << preset;
  EXPECT_NE(preset.find("bert-mini"), std::string::npos) << "lists every family's presets: " << preset;
}

TEST(Registry, ConfigsRoundTripThroughTheirFamily) {
  for (const char* p : {"gpt2-tiny", "llama-tiny", "bert-mini", "toy-nano"}) {
    const auto c = models::model_config_from_json(p, "preset");
    const auto again = models::model_config_from_json(c->to_json(), "again");
    EXPECT_EQ(again->to_json(), c->to_json()) << p;
    EXPECT_EQ(&again->family(), &c->family()) << p;
    const auto from_hf = models::model_config_from_hf(c->hf_config(), "config.json");
    EXPECT_EQ(from_hf->model_type(), c->model_type()) << p;
    EXPECT_EQ(from_hf->num_parameters(), c->num_parameters()) << p;
    const auto model = c->create(7);
    EXPECT_EQ(model->num_parameters(), c->num_parameters()) << p;
    EXPECT_EQ(model->model_type(), c->model_type()) << p;
  }
}

TEST(Registry, CapabilitiesReplaceFamilyChecks) {
  const auto gpt = models::model_config_from_json("gpt2-tiny", "p")->create(1);
  const auto bert = models::model_config_from_json("bert-tiny", "p")->create(1);
  EXPECT_NE(gpt->as<models::CausalLM>(), nullptr);
  EXPECT_EQ(gpt->as<models::MaskedLM>(), nullptr);
  EXPECT_EQ(bert->as<models::CausalLM>(), nullptr);
  EXPECT_NE(bert->as<models::MaskedLM>(), nullptr);
  EXPECT_EQ(gpt->capabilities(), (std::vector<std::string>{"causal-lm", "embeddings"}));
  EXPECT_EQ(bert->capabilities(), (std::vector<std::string>{"masked-lm", "embeddings"}));
  EXPECT_EQ(gpt->text_framing(), models::TextFraming::EndOfText);
  EXPECT_EQ(bert->text_framing(), models::TextFraming::ClsSep);
}

TEST(Registry, ABatchIsNamedTensors) {
  data::Batch b;
  b.set(data::batch_keys::ids, Tensor::zeros({3, 5}, DType::I32)).set("positive.ids", Tensor::zeros({3, 7}, DType::I32));
  EXPECT_EQ(b.rows(), 3);
  EXPECT_TRUE(b.has("ids"));
  EXPECT_FALSE(b.has("segments"));
  EXPECT_FALSE(b["segments"].defined());
  EXPECT_EQ(b.sub("positive.")["ids"].size(1), 7);
  const std::string e = error_of([&] { b.get(data::batch_keys::targets, "gpt"); });
  EXPECT_NE(e.find("gpt: the batch has no 'targets' (it has: ids, positive.ids)"), std::string::npos) << e;
  // A model names what it needs.
  const auto gpt = models::model_config_from_json("gpt2-tiny", "p")->create(1);
  const std::string need = error_of([&] { gpt->as<models::CausalLM>()->lm_loss(b); });
  EXPECT_NE(need.find("the batch has no 'targets'"), std::string::npos) << need;
}

// ---- a new family end to end, through code that never heard of it --------------------------------

TEST(Registry, ANewFamilyPretrainsCheckpointsAndLoadsWithNothingElseChanged) {
  const fs::path dir = fs::temp_directory_path() / ("cornerstone_registry_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir / "data");
  // Token shards of a repeating pattern over a 64-token vocabulary.
  for (const char* split : {"train", "val"}) {
    data::TokenShardWriter w((dir / "data" / (std::string(split) + "-000.bin")).string(), 64);
    std::mt19937 rng(split[0]);
    for (int d = 0; d < 40; ++d) {
      std::vector<int32_t> doc;
      for (int i = 0; i < 30; ++i) doc.push_back((d + i * 3) % 60 + static_cast<int32_t>(rng() % 2));
      doc.push_back(63);
      w.append_document(doc);
    }
    w.finish();
  }
  const auto cfg = train::PretrainConfig::load("toy-nano");
  ASSERT_EQ(cfg.model->model_type(), "toy");
  EXPECT_EQ(cfg.objective, "causal_lm");
  train::RunOptions o;
  o.data_dir = (dir / "data").string(), o.run_dir = (dir / "run").string(), o.quiet = true;
  const auto r = train::Trainer(cfg, o).run();
  EXPECT_EQ(r.steps, 6);
  EXPECT_TRUE(std::isfinite(r.val_loss));

  // The run folder's config.json names the family; loading finds it there.
  const auto model = models::load_model((dir / "run").string());
  EXPECT_EQ(model->model_type(), "toy");
  EXPECT_NE(dynamic_cast<const Toy*>(model.get()), nullptr) << "load_model built the toy family's model";
  const Model m = load((dir / "run").string());
  EXPECT_EQ(m.model_type(), "toy");
  EXPECT_TRUE(m.can(Capability::CausalLM));
  EXPECT_TRUE(m.can(Capability::Embeddings));
  const Evaluation e = m.evaluate((dir / "data").string());
  EXPECT_EQ(e.metric, "perplexity");
  EXPECT_NEAR(e.json["loss"].get<double>(), r.val_loss, 0.5) << "the saved model scores like the trained one";
  fs::remove_all(dir);
}

}  // namespace
}  // namespace cornerstone
