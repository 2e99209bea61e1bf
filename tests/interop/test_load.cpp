// cornerstone::load() (cornerstone.h): one door for every kind of model on disk. The same weights
// opened from a run folder, a GGUF file and a quantized folder report what they are, what they
// can do, and generate the same greedy text where their formats agree; an encoder refuses to
// generate, naming what it can do instead.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "cornerstone/adapt/lora.h"
#include "cornerstone/core/error.h"
#include "cornerstone/cornerstone.h"
#include "cornerstone/infer/quantized_folder.h"
#include "cornerstone/interop/convert.h"
#include "cornerstone/models/bert/bert.h"
#include "cornerstone/models/load.h"
#include "interop_fixtures.h"

namespace cornerstone {
namespace {

namespace fs = std::filesystem;
using testing::tiny_config;
using testing::tiny_tokenizer;

class Load : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = (fs::temp_directory_path() / ("cornerstone_load_" + std::to_string(::getpid()))).string();
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return (fs::path(dir_) / name).string(); }
  std::string dir_;
};

std::string greedy(const Model& m, const std::string& prompt) {
  infer::GenerateOptions o;
  o.max_tokens = 12;
  o.sampling.greedy = true;
  o.stop_at_eos = false;
  return m.generate({prompt}, o).at(0).text;
}

TEST_F(Load, FolderGgufAndQuantizedFolderOfOneModel) {
  for (const auto arch : {models::DecoderArch::GPT2, models::DecoderArch::Llama}) {
    SCOPED_TRACE(models::arch_name(arch));
    const models::GPT model(tiny_config(arch, tiny_tokenizer().vocab_size()), 5);
    const std::string run = path("run-" + models::arch_name(arch));
    testing::write_model_folder(model, &tiny_tokenizer(), run);
    const std::string gguf = run + ".gguf", q8 = run + "-q8";
    interop::ExportOptions eo;
    eo.format = interop::ExportFormat::GGUF;
    interop::export_model(run, gguf, eo);
    infer::save_quantized_model(model, kernels::WeightFormat::Q8_0, q8, run);

    const Model folder = load(run), file = load(gguf), quantized = load(q8);
    EXPECT_EQ(folder.model_type(), models::arch_name(arch));
    EXPECT_EQ(file.model_type(), models::arch_name(arch));
    EXPECT_EQ(quantized.model_type(), models::arch_name(arch));
    EXPECT_EQ(folder.weight_format(), "f32");
    EXPECT_EQ(quantized.weight_format(), "q8_0");
    EXPECT_EQ(folder.kind(), "pretrained");
    EXPECT_EQ(folder.capabilities(), (std::vector<Capability>{Capability::CausalLM, Capability::Embeddings}));
    EXPECT_EQ(quantized.capabilities(), (std::vector<Capability>{Capability::CausalLM})) << "inference weights only";
    ASSERT_TRUE(file.has_tokenizer()) << "the GGUF file carries its tokenizer";

    // f32 in both: the same weights give the same greedy continuation.
    const std::string a = greedy(folder, "The union"), b = greedy(file, "The union");
    EXPECT_FALSE(a.empty());
    EXPECT_EQ(a, b);
    EXPECT_FALSE(greedy(quantized, "The union").empty());

    // Embeddings from the f32 model; a quantized folder says it cannot.
    EXPECT_EQ(folder.embed({"a", "the union"}).shape(), Shape({2, 64}));
    try {
      quantized.embed({"a"});
      ADD_FAILURE() << "a quantized folder embedded text";
    } catch (const UnsupportedError& e) {
      EXPECT_NE(std::string(e.what()).find("causal-lm"), std::string::npos) << e.what();
    }
  }
}

TEST_F(Load, AnEncoderSaysWhatItCanDoInsteadOfGenerating) {
  models::EncoderConfig c;
  c.vocab_size = 300, c.context = 32, c.n_layers = 1, c.d_model = 32, c.n_heads = 2, c.d_ff = 64;
  const models::BERT bert(c, 3);
  fs::create_directories(path("bert"));
  models::save_model(bert, path("bert"));
  const Model m = load(path("bert"));
  EXPECT_EQ(m.model_type(), "bert");
  EXPECT_EQ(m.capabilities(), (std::vector<Capability>{Capability::MaskedLM, Capability::Embeddings}));
  EXPECT_FALSE(m.can(Capability::CausalLM));
  try {
    m.generate({"x"}, {});
    ADD_FAILURE() << "an encoder generated";
  } catch (const UnsupportedError& e) {
    EXPECT_NE(std::string(e.what()).find("bert (f32): masked-lm, embeddings; it cannot generate"), std::string::npos) << e.what();
  }
}

TEST_F(Load, BadPathsAreNamed) {
  auto error_of = [](const std::string& p) {
    try {
      load(p);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  EXPECT_NE(error_of(path("nothing")).find("does not exist"), std::string::npos);
  std::ofstream(path("notes.txt")) << "hello";
  EXPECT_NE(error_of(path("notes.txt")).find("neither a model folder"), std::string::npos);
  fs::create_directories(path("empty"));
  EXPECT_NE(error_of(path("empty")).find("missing config.json"), std::string::npos);
}

// What the server reads to serve an adapter over its base: lora_base() names the base of a
// language-model adapter only, and a folder opened with its adapters apart gives their terms and
// refuses to generate without them.
TEST_F(Load, LoraBaseAndAdaptersKeptApart) {
  models::GPT model(tiny_config(models::DecoderArch::GPT2, tiny_tokenizer().vocab_size()), 5);
  const std::string run = path("base");
  testing::write_model_folder(model, &tiny_tokenizer(), run);
  adapt::LoRAConfig c;
  c.rank = 2, c.targets = {"attn"};
  adapt::apply_lora(model, c, 1);
  adapt::save_peft(model, c, path("causal"), run);
  adapt::save_peft(model, c, path("seqcls"), run, "SEQ_CLS");
  EXPECT_EQ(lora_base(path("causal")), run);
  EXPECT_EQ(lora_base(path("seqcls")), "") << "a classifier's adapter is not served over a language model";
  EXPECT_EQ(lora_base(run), "");
  EXPECT_EQ(lora_base(path("missing")), "");

  LoadOptions apart;
  apart.merge_adapters = false;
  const Model kept = load(path("causal"), apart);
  EXPECT_EQ(kept.lora_deltas().layers.size(), 2u);
  EXPECT_THROW((void)kept.inference_weights(), UnsupportedError) << "generating would silently drop the adapters";
  EXPECT_THROW((void)load(path("causal")).lora_deltas(), ValueError) << "merged by default";
  EXPECT_FALSE(greedy(load(path("causal")), "The union").empty());
}

}  // namespace
}  // namespace cornerstone
