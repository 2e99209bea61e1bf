// GPT <-> Hugging Face folders: the PyTorch reference (HF tensor names, Conv1D layout, tied head)
// loads exported folders of every dtype, single-file and sharded, and computes Cornerstone's
// logits; the folder holds what transformers reads; round trips are bit-exact; GPT2Model-style
// names load.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "cornerstone/core/error.h"
#include "cornerstone/core/rng.h"
#include "cornerstone/io/atomic_file.h"
#include "cornerstone/io/safetensors.h"
#include "cornerstone/io/safetensors_checkpoint.h"
#include "cornerstone/interop/convert.h"
#include "cornerstone/models/gpt/gpt_hf.h"
#include "cornerstone/models/load.h"
#include "cli.h"
#include "interop_fixtures.h"
#include "oracle.h"
#include "test_util.h"

using namespace cornerstone;
using namespace cornerstone::testing;
namespace fs = std::filesystem;
using models::DecoderArch;

namespace {

class HFModel : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = fresh_temp_dir("hf_model"); }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& p) const { return (fs::path(dir_) / p).string(); }
  std::string dir_;
};

interop::ExportOptions hf_options(DType type, uint64_t shard_bytes = 0) {
  interop::ExportOptions o;
  o.format = interop::ExportFormat::HF;
  o.type = type;
  o.shard_bytes = shard_bytes;
  return o;
}

Tensor random_ids(int64_t B, int64_t T, int64_t vocab, uint64_t seed) {
  Rng rng(seed);
  std::vector<int32_t> v(static_cast<size_t>(B * T));
  for (auto& x : v) x = static_cast<int32_t>(rng.below(static_cast<uint64_t>(vocab)));
  return Tensor::from_data({B, T}, v);
}

nlohmann::json read_json(const std::string& p) { return nlohmann::json::parse(io::read_file(p)); }

}  // namespace

TEST_F(HFModel, ThePyTorchReferenceLoadsExportsOfEveryDtypeAndLayoutWithCornerstonesLogits) {
  struct Case {
    DType type;
    uint64_t shard_bytes;
  };
  for (DecoderArch arch : {DecoderArch::GPT2, DecoderArch::Llama}) {
    const auto cfg = tiny_config(arch, tiny_tokenizer().vocab_size());
    const models::GPT model(cfg, 21);
    const Tensor ids = random_ids(2, 17, cfg.vocab_size, 1), targets = random_ids(2, 17, cfg.vocab_size, 2);
    for (const Case c : {Case{DType::F32, 0}, Case{DType::BF16, 60000}, Case{DType::F16, 0}}) {
      SCOPED_TRACE(models::arch_name(arch) + " " + std::string(dtype_name(c.type)) + (c.shard_bytes ? " sharded" : ""));
      const std::string out = path("hf");
      interop::export_pretrained(model, &tiny_tokenizer(), out, hf_options(c.type, c.shard_bytes));
      EXPECT_EQ(fs::exists(out + "/model.safetensors.index.json"), c.shard_bytes != 0);
      // Cornerstone's logits for the weights as exported (f32: the model itself).
      const auto loaded = models::load_gpt(out);
      const Tensor mine = (c.type == DType::F32 ? model : *loaded).logits((c.type == DType::F32 ? model : *loaded).hidden(ids));
      const auto ref = Oracle::instance().run("decoder_model", {ids, targets}, {{"dir", out}, {"names", nlohmann::json::array()}});
      EXPECT_TRUE(all_close(mine.detach(), ref.outputs[1], 1e-5, 1e-5)) << "logits";
      EXPECT_TRUE(all_close(loaded->loss(ids, targets).detach(), ref.outputs[0], 1e-5, 1e-6)) << "loss";
      fs::remove_all(out);
    }
  }
}

TEST_F(HFModel, TheFolderHoldsWhatTransformersReads) {
  for (DecoderArch arch : {DecoderArch::GPT2, DecoderArch::Llama}) {
    SCOPED_TRACE(models::arch_name(arch));
    const auto& tok = tiny_tokenizer();
    const models::GPT model(tiny_config(arch, tok.vocab_size()), 3);
    const std::string out = path(models::arch_name(arch));
    const auto r = interop::export_pretrained(model, &tok, out, hf_options(DType::BF16));
    EXPECT_EQ(r.files, (std::vector<std::string>{"config.json", "generation_config.json", "model.safetensors",
                                                  "tokenizer.json", "tokenizer_config.json"}));
    const auto config = read_json(out + "/config.json");
    EXPECT_EQ(config["torch_dtype"], "bfloat16");
    EXPECT_EQ(config["model_type"], models::arch_name(arch));
    EXPECT_EQ(config["eos_token_id"], *tok.eos_id());
    EXPECT_EQ(read_json(out + "/generation_config.json")["eos_token_id"], *tok.eos_id());
    EXPECT_EQ(read_json(out + "/tokenizer_config.json")["eos_token"], "<|endoftext|>");
    EXPECT_EQ(io::read_file(out + "/tokenizer.json"), tok.to_json());
    const auto st = io::SafeTensorsFile::open(out + "/model.safetensors");
    EXPECT_EQ(st.metadata().at("format"), "pt");
    for (const auto& n : st.names()) EXPECT_EQ(st.info(n).dtype, "BF16") << n;
    if (arch == DecoderArch::GPT2) {
      EXPECT_EQ(st.info("transformer.h.1.attn.c_attn.weight").shape, (Shape{64, 192})) << "Conv1D: (in, out)";
      EXPECT_EQ(st.info("transformer.h.1.mlp.c_proj.weight").shape, (Shape{256, 64}));
      EXPECT_FALSE(st.contains("lm_head.weight")) << "tied to transformer.wte";
      EXPECT_EQ(config["n_embd"], 64);
    } else {
      EXPECT_EQ(st.info("model.layers.1.self_attn.k_proj.weight").shape, (Shape{32, 64}));
      EXPECT_EQ(st.info("model.layers.1.mlp.gate_proj.weight").shape, (Shape{160, 64}));
      EXPECT_TRUE(st.contains("lm_head.weight"));
      EXPECT_EQ(config["rope_theta"], 5000.0);
      EXPECT_EQ(config["num_key_value_heads"], 2);
      EXPECT_EQ(config["tie_word_embeddings"], false);
    }
  }
}

TEST_F(HFModel, RoundTripsAreBitExact) {
  for (DecoderArch arch : {DecoderArch::GPT2, DecoderArch::Llama}) {
    SCOPED_TRACE(models::arch_name(arch));
    const models::GPT model(tiny_config(arch, tiny_tokenizer().vocab_size()), 8);
    // f32: export -> import gives the same weights.
    interop::export_pretrained(model, &tiny_tokenizer(), path("f32"), hf_options(DType::F32));
    interop::import_model(path("f32"), path("f32-in"));
    expect_same_weights(model, *models::load_gpt(path("f32-in")));
    EXPECT_EQ(io::read_file(path("f32-in/tokenizer.json")), tiny_tokenizer().to_json());
    // bf16 / f16: export -> import -> export gives the same file.
    for (DType t : {DType::BF16, DType::F16}) {
      interop::export_pretrained(model, &tiny_tokenizer(), path("h"), hf_options(t));
      interop::import_model(path("h"), path("h-in"));
      interop::export_model(path("h-in"), path("h2"), hf_options(t));
      EXPECT_TRUE(io::read_file(path("h/model.safetensors")) == io::read_file(path("h2/model.safetensors")))
          << dtype_name(t);
      fs::remove_all(path("h")), fs::remove_all(path("h-in")), fs::remove_all(path("h2"));
    }
    fs::remove_all(path("f32")), fs::remove_all(path("f32-in"));
  }
}

TEST_F(HFModel, ShardedFoldersImportAndLoad) {
  const models::GPT model(tiny_config(DecoderArch::Llama, tiny_tokenizer().vocab_size()), 9);
  const auto r = interop::export_pretrained(model, &tiny_tokenizer(), path("sharded"), hf_options(DType::F32, 100000));
  size_t shards = 0;
  for (const auto& f : r.files) shards += f.rfind("model-", 0) == 0;
  EXPECT_GT(shards, 2u);
  const auto index = read_json(path("sharded/model.safetensors.index.json"));
  EXPECT_EQ(index["weight_map"].size(), models::hf_tensor_names(model.config()).size());
  expect_same_weights(model, *models::load_gpt(path("sharded")));
  interop::import_model(path("sharded"), path("imported"));
  EXPECT_TRUE(fs::exists(path("imported/model.safetensors")));
  EXPECT_FALSE(fs::exists(path("imported/model.safetensors.index.json")));
  expect_same_weights(model, *models::load_gpt(path("imported")));
}

TEST_F(HFModel, GPT2ModelNamesWithoutThePrefixAndMaskBuffersLoad) {
  // The original gpt2 upload was saved from GPT2Model: "h.0.attn.c_attn.weight", plus causal-mask
  // buffers "h.0.attn.bias" that are not weights.
  const auto cfg = tiny_config(DecoderArch::GPT2, tiny_tokenizer().vocab_size());
  const models::GPT model(cfg, 10);
  std::vector<std::pair<std::string, Tensor>> renamed;
  for (auto& [n, t] : models::hf_state_dict(model)) renamed.emplace_back(n.substr(std::string("transformer.").size()), t);
  renamed.emplace_back("h.0.attn.bias", Tensor::zeros({1, 1, 64, 64}));
  fs::create_directories(path("gpt2"));
  io::save_safetensors(path("gpt2/model.safetensors"), renamed);
  io::write_file_atomic(path("gpt2/config.json"), models::hf_config(cfg).dump());
  expect_same_weights(model, *models::load_gpt(path("gpt2")));
}
