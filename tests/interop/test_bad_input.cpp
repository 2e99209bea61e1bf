// Bad input for import and export: unknown architectures, missing tensors, shape mismatches,
// unexpected tensors, truncated files, wrong magic or version. Each error names the key or the
// tensor, and a failed import leaves no output folder (and never touches an existing one).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>

#include "cornerstone/core/error.h"
#include "cornerstone/io/atomic_file.h"
#include "cornerstone/io/gguf.h"
#include "cornerstone/io/safetensors.h"
#include "cornerstone/interop/convert.h"
#include "cornerstone/models/gpt/gpt_gguf.h"
#include "cornerstone/models/gpt/gpt_hf.h"
#include "cli.h"
#include "interop_fixtures.h"
#include "test_util.h"

using namespace cornerstone;
using namespace cornerstone::testing;
namespace fs = std::filesystem;
using models::DecoderArch;

namespace {

class BadInput : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = fresh_temp_dir("interop_bad"); }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& p) const { return (fs::path(dir_) / p).string(); }

  // import_model(from) must throw an Error whose message contains `what`, and leave nothing at
  // the output path nor any staging folder beside it.
  void expect_import_fails(const std::string& from, const std::string& what) {
    const std::string out = path("out/model");
    try {
      interop::import_model(from, out);
      ADD_FAILURE() << "import of " << from << " succeeded; expected: " << what;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
    }
    EXPECT_FALSE(fs::exists(out)) << "a failed import left " << out;
    if (fs::exists(path("out"))) {
      EXPECT_EQ(std::distance(fs::directory_iterator(path("out")), fs::directory_iterator()), 0) << "staging folder left behind";
    }
  }

  // A valid GGUF of a tiny Llama, modified by `edit` before writing.
  std::string gguf_with(const std::function<void(io::GGUFWriter&)>& edit, DecoderArch arch = DecoderArch::Llama) {
    const models::GPT model(tiny_config(arch, tiny_tokenizer().vocab_size()), 1);
    io::GGUFWriter w;
    models::add_gpt_to_gguf(model, DType::F32, "bad", w);
    edit(w);
    const std::string p = path("bad.gguf");
    fs::remove(p);
    w.write(p);
    return p;
  }

  // A valid HF folder of a tiny model, then `edit(tensors, config)` before writing.
  std::string hf_with(const std::function<void(std::vector<std::pair<std::string, Tensor>>&, nlohmann::json&)>& edit,
                      DecoderArch arch = DecoderArch::Llama) {
    const models::GPT model(tiny_config(arch, tiny_tokenizer().vocab_size()), 1);
    auto tensors = models::hf_state_dict(model);
    auto config = models::hf_config(model.config());
    edit(tensors, config);
    const std::string d = path("hf");
    fs::remove_all(d);
    fs::create_directories(d);
    io::save_safetensors(d + "/model.safetensors", tensors);
    io::write_file_atomic(d + "/config.json", config.dump());
    return d;
  }

  std::string dir_;
};

// The GGUF writer has no "remove"; rebuild a file without one tensor / with one replaced.
std::string rewrite_gguf(const std::string& src, const std::string& dst, const std::string& drop,
                         const std::string& replace = "", const Tensor& with = Tensor()) {
  const auto f = io::GGUFFile::open(src);
  io::GGUFWriter w;
  for (const auto& [k, v] : f.metadata())
    if (k != "general.alignment") w.set(k, v);
  for (const auto& t : f.tensors()) {
    if (t.name == drop) continue;
    w.add_tensor(t.name, t.name == replace ? with : f.tensor(t.name).clone());
  }
  w.write(dst);
  return dst;
}

}  // namespace

TEST_F(BadInput, GGUFErrorsNameTheKeyOrTensorAndLeaveNoOutput) {
  using io::GGUFValue;
  expect_import_fails(gguf_with([](io::GGUFWriter& w) { w.set("general.architecture", GGUFValue::string("falcon")); }),
                      "metadata 'general.architecture' is 'falcon', which Cornerstone does not run");
  expect_import_fails(gguf_with([](io::GGUFWriter& w) { w.set("llama.block_count", GGUFValue::string("two")); }),
                      "metadata 'llama.block_count' should be an unsigned integer, is string");
  expect_import_fails(gguf_with([](io::GGUFWriter& w) { w.set("llama.rope.scaling.type", GGUFValue::string("yarn")); }),
                      "metadata 'llama.rope.scaling.type' is 'yarn': RoPE scaling is not supported");
  expect_import_fails(gguf_with([](io::GGUFWriter& w) { w.set("llama.feed_forward_length", GGUFValue::u32(192)); }),
                      "tensor 'blk.0.ffn_gate.weight' has shape (160, 64) (GGUF dims reversed), the llama.* metadata implies (192, 64)");
  expect_import_fails(gguf_with([](io::GGUFWriter& w) { w.set("llama.embedding_length", GGUFValue::u32(96)); }),
                      "metadata 'llama.rope.dimension_count' = 16: partial rotary embeddings are not supported");
  expect_import_fails(gguf_with([](io::GGUFWriter& w) { w.set("llama.block_count", GGUFValue::u32(3)); }),
                      "missing tensor 'blk.2.attn_norm.weight'");
  expect_import_fails(gguf_with([](io::GGUFWriter& w) { w.add_tensor("blk.0.attn_q.bias", Tensor::zeros({64})); }),
                      "tensor 'blk.0.attn_q.bias' is not part of Cornerstone's llama layout");
  expect_import_fails(gguf_with([](io::GGUFWriter& w) { w.set("llama.vocab_size", GGUFValue::u32(7)); }),
                      "metadata 'llama.vocab_size' = 7 but token_embd.weight has");

  const std::string good = gguf_with([](io::GGUFWriter&) {});
  expect_import_fails(rewrite_gguf(good, path("drop.gguf"), "blk.1.ffn_up.weight"), "missing tensor 'blk.1.ffn_up.weight'");
  expect_import_fails(rewrite_gguf(good, path("shape.gguf"), "", "blk.0.attn_k.weight", Tensor::zeros({64, 64})),
                      "tensor 'blk.0.attn_k.weight' has shape (64, 64) (GGUF dims reversed), the llama.* metadata implies (32, 64)");

  // Damaged files.
  const std::string bytes = io::read_file(good);
  io::write_file_atomic(path("trunc.gguf"), bytes.substr(0, bytes.size() - 100));
  expect_import_fails(path("trunc.gguf"), "runs past the end of the file");
  io::write_file_atomic(path("trunc2.gguf"), bytes.substr(0, 200));
  expect_import_fails(path("trunc2.gguf"), "truncated");
  std::string v4 = bytes;
  v4[4] = 4;
  io::write_file_atomic(path("v4.gguf"), v4);
  expect_import_fails(path("v4.gguf"), "GGUF version 4 is not supported");
  std::string magic = bytes;
  magic[3] = 'X';
  io::write_file_atomic(path("magic.gguf"), magic);
  expect_import_fails(path("magic.gguf"), "is neither a GGUF file");
  expect_import_fails(path("nothing-here.gguf"), "does not exist");
}

TEST_F(BadInput, HuggingFaceErrorsNameTheKeyOrTensorAndLeaveNoOutput) {
  using Tensors = std::vector<std::pair<std::string, Tensor>>;
  expect_import_fails(hf_with([](Tensors&, nlohmann::json& c) { c["model_type"] = "t5"; }),
                      "model_type 't5' is not supported");
  expect_import_fails(hf_with([](Tensors&, nlohmann::json& c) { c.erase("hidden_size"); }), "missing key 'hidden_size'");
  expect_import_fails(hf_with([](Tensors&, nlohmann::json& c) { c["rope_scaling"] = {{"type", "linear"}, {"factor", 2.0}}; }),
                      "rope_scaling is not supported");
  expect_import_fails(hf_with([](Tensors& t, nlohmann::json&) {
                        t.erase(std::remove_if(t.begin(), t.end(), [](auto& p) { return p.first == "model.layers.1.mlp.up_proj.weight"; }),
                                t.end());
                      }),
                      "missing tensor 'model.layers.1.mlp.up_proj.weight'");
  expect_import_fails(hf_with([](Tensors& t, nlohmann::json&) {
                        for (auto& [n, x] : t)
                          if (n == "model.layers.0.self_attn.k_proj.weight") x = Tensor::zeros({64, 64});
                      }),
                      "tensor 'model.layers.0.self_attn.k_proj.weight' has shape (64, 64), the config implies (32, 64)");
  expect_import_fails(hf_with([](Tensors& t, nlohmann::json&) { t.emplace_back("model.layers.0.self_attn.q_proj.bias", Tensor::zeros({64})); }),
                      "tensor 'model.layers.0.self_attn.q_proj.bias' is not part of the llama layout");
  expect_import_fails(hf_with([](Tensors& t, nlohmann::json&) {
                        for (auto& [n, x] : t)
                          if (n == "transformer.h.0.attn.c_attn.weight") x = Tensor::zeros({192, 64});  // Linear, not Conv1D
                      }, DecoderArch::GPT2),
                      "tensor 'transformer.h.0.attn.c_attn.weight' has shape (192, 64), the config implies (64, 192)");

  // A truncated shard and a config that is not JSON.
  const std::string d = hf_with([](Tensors&, nlohmann::json&) {});
  const std::string st = io::read_file(d + "/model.safetensors");
  io::write_file_atomic(d + "/model.safetensors", st.substr(0, st.size() / 2));
  expect_import_fails(d, "exceed the");
  io::write_file_atomic(d + "/config.json", "{\"model_type\": ");
  expect_import_fails(d, "config.json: not valid JSON");
  fs::remove(d + "/config.json");
  expect_import_fails(d, "missing config.json");
}

TEST_F(BadInput, AnExistingOutputIsNeverTouched) {
  const models::GPT model(tiny_config(DecoderArch::GPT2, tiny_tokenizer().vocab_size()), 1);
  write_model_folder(model, &tiny_tokenizer(), path("run"));
  fs::create_directories(path("taken"));
  io::write_file_atomic(path("taken/keep.txt"), "mine");
  try {
    interop::import_model(path("run"), path("taken"));
    FAIL();
  } catch (const IOError& e) {
    EXPECT_NE(std::string(e.what()).find("already exists and is not empty"), std::string::npos) << e.what();
  }
  EXPECT_EQ(io::read_file(path("taken/keep.txt")), "mine");
  EXPECT_EQ(std::distance(fs::directory_iterator(path("taken")), fs::directory_iterator()), 1);

  interop::ExportOptions o;
  o.format = interop::ExportFormat::HF;
  EXPECT_THROW(interop::export_model(path("run"), path("taken"), o), IOError);
  o.format = interop::ExportFormat::GGUF;
  EXPECT_THROW(interop::export_model(path("run"), path("taken/keep.txt"), o), IOError);
  EXPECT_THROW(interop::export_model(path("run"), path("taken"), o), IOError);
  EXPECT_EQ(io::read_file(path("taken/keep.txt")), "mine");
  // Quantized types are GGUF-only.
  o.format = interop::ExportFormat::HF;
  o.type = DType::Q8_0;
  try {
    interop::export_model(path("run"), path("hf-q8"), o);
    FAIL();
  } catch (const ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("quantized types need --format gguf"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(path("hf-q8")));
}
