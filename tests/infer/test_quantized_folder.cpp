// Quantized model folders: written and read back to the very weights the in-memory conversion
// makes (bitwise logits, both families), bf16 folders readable as plain checkpoints, and damaged
// files (truncated blocks, missing metadata, a cut-off file) rejected with errors naming the tensor.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "cli.h"
#include "cornerstone/core/error.h"
#include "cornerstone/infer/decoder_runner.h"
#include "cornerstone/infer/quantized_folder.h"
#include "cornerstone/io/atomic_file.h"
#include "cornerstone/io/safetensors.h"
#include "cornerstone/models/load.h"
#include "infer_test.h"
#include "kernels/kernel_test.h"

namespace cornerstone::testing {
namespace {

using infer::InferenceWeights;
using kernels::WeightFormat;
namespace fs = std::filesystem;

const WeightFormat kFormats[] = {WeightFormat::F32, WeightFormat::BF16, WeightFormat::Q8_0, WeightFormat::Q4_0};

std::vector<float> logits(const InferenceWeights& w, const std::vector<int32_t>& ids) {
  infer::DecoderRunner run(w);
  infer::KVCache cache(w.config(), 1, w.config().context);
  return run.forward_all(cache, {{0, ids}}).to_vector();
}

std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

// Rewrites DIR/model.safetensors after `edit` changed its tensors / metadata.
void rewrite(const std::string& dir, const std::function<void(std::vector<std::pair<std::string, Tensor>>&,
                                                              std::map<std::string, std::string>&)>& edit) {
  const std::string path = dir + "/model.safetensors";
  std::vector<std::pair<std::string, Tensor>> tensors;
  std::map<std::string, std::string> meta;
  {
    const auto f = io::SafeTensorsFile::open(path);
    for (const auto& n : f.names()) tensors.emplace_back(n, f.get(n).clone());
    meta = f.metadata();
  }
  edit(tensors, meta);
  io::save_safetensors(path, tensors, meta);
}

class QuantizedFolder : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = fresh_temp_dir("quantized_folder"); }
  void TearDown() override { fs::remove_all(dir_); }
  std::string dir_;
};

TEST_F(QuantizedFolder, RoundTripGivesTheInMemoryWeightsBitwise) {
  for (auto arch : {models::DecoderArch::GPT2, models::DecoderArch::Llama}) {
    const models::GPT model(small_decoder(arch), 2);
    const auto ids = random_tokens(20, model.config().vocab_size, 3);
    for (WeightFormat f : kFormats) {
      SCOPED_TRACE(models::arch_name(arch) + " " + std::string(kernels::weight_format_name(f)));
      const std::string out = dir_ + "/" + models::arch_name(arch) + "_" + std::string(kernels::weight_format_name(f));
      infer::save_quantized_model(model, f, out);
      const InferenceWeights loaded = InferenceWeights::load(out);
      EXPECT_EQ(loaded.format(), f);
      EXPECT_TRUE(bitwise_equal(logits(loaded, ids), logits(InferenceWeights::from_model(model, f), ids)));
      EXPECT_EQ(loaded.decode_bytes(), InferenceWeights::from_model(model, f).decode_bytes());
    }
  }
}

TEST_F(QuantizedFolder, FloatFoldersQuantizeOnLoadAndBlocksLoadOnlyAsThemselves) {
  const models::GPT model(small_decoder(models::DecoderArch::GPT2), 4);
  const auto ids = random_tokens(10, model.config().vocab_size, 5);
  infer::save_quantized_model(model, WeightFormat::F32, dir_ + "/f32");
  EXPECT_TRUE(bitwise_equal(logits(InferenceWeights::load(dir_ + "/f32", WeightFormat::Q8_0), ids),
                            logits(InferenceWeights::from_model(model, WeightFormat::Q8_0), ids)));
  infer::save_quantized_model(model, WeightFormat::Q4_0, dir_ + "/q4");
  EXPECT_NE(message_of([&] { InferenceWeights::load(dir_ + "/q4", WeightFormat::Q8_0); }).find("holds q4_0 weights"), std::string::npos);
  // The training loader refuses blocks with a message saying what to do.
  EXPECT_NE(message_of([&] { models::load_gpt(dir_ + "/q4"); }).find("need the f32 model"), std::string::npos);
}

TEST_F(QuantizedFolder, Bf16FolderIsAPlainCheckpoint) {
  const models::GPT model(small_decoder(models::DecoderArch::Llama), 6);
  infer::save_quantized_model(model, WeightFormat::BF16, dir_);
  const auto cfg = nlohmann::json::parse(io::read_file(dir_ + "/config.json"));
  EXPECT_EQ(cfg["torch_dtype"], "bfloat16");
  EXPECT_EQ(cfg["quantization"]["format"], "bf16");
  const auto f = io::SafeTensorsFile::open(dir_ + "/model.safetensors");
  EXPECT_EQ(f.info("model.layers.0.self_attn.q_proj.weight").dtype, "BF16");
  EXPECT_EQ(f.info("model.layers.0.input_layernorm.weight").dtype, "F32");
  const auto back = models::load_gpt(dir_);  // the weights rounded to bf16
  const Tensor w = back->parameter("blocks.1.mlp.down.weight"), w0 = model.parameter("blocks.1.mlp.down.weight");
  EXPECT_TRUE(all_close(w.to_vector(), w0.to(DType::BF16).to(DType::F32).to_vector(), 0, 0));
}

TEST_F(QuantizedFolder, TruncatedOrUndescribedBlocksAreErrorsNamingTheTensor) {
  const models::GPT model(small_decoder(models::DecoderArch::GPT2), 7);
  infer::save_quantized_model(model, WeightFormat::Q4_0, dir_);
  const std::string victim = "transformer.h.1.mlp.c_fc.weight";
  // Blocks cut short: one byte fewer per row.
  rewrite(dir_, [&](auto& tensors, auto&) {
    for (auto& [n, t] : tensors)
      if (n == victim) t = t.slice(1, 0, t.size(1) - 1).contiguous();
  });
  std::string msg = message_of([&] { InferenceWeights::load(dir_); });
  EXPECT_NE(msg.find(victim), std::string::npos) << msg;
  EXPECT_NE(msg.find("truncated"), std::string::npos) << msg;
  // Rows missing.
  infer::save_quantized_model(model, WeightFormat::Q4_0, dir_);
  rewrite(dir_, [&](auto& tensors, auto&) {
    for (auto& [n, t] : tensors)
      if (n == victim) t = t.slice(0, 0, t.size(0) - 3).contiguous();
  });
  msg = message_of([&] { InferenceWeights::load(dir_); });
  EXPECT_NE(msg.find(victim), std::string::npos) << msg;
  // No metadata for a block tensor.
  infer::save_quantized_model(model, WeightFormat::Q8_0, dir_);
  rewrite(dir_, [&](auto&, auto& meta) { meta.erase(victim); });
  msg = message_of([&] { InferenceWeights::load(dir_); });
  EXPECT_NE(msg.find(victim), std::string::npos) << msg;
  EXPECT_NE(msg.find("__metadata__"), std::string::npos) << msg;
  // Metadata that lies about the format.
  infer::save_quantized_model(model, WeightFormat::Q8_0, dir_);
  rewrite(dir_, [&](auto&, auto& meta) { meta[victim] = R"({"format": "q5_k", "shape": [128, 64]})"; });
  EXPECT_THROW(InferenceWeights::load(dir_), FormatError);
  // The file itself cut off in the middle of the data.
  infer::save_quantized_model(model, WeightFormat::Q4_0, dir_);
  const fs::path file = fs::path(dir_) / "model.safetensors";
  fs::resize_file(file, fs::file_size(file) - 1000);
  msg = message_of([&] { InferenceWeights::load(dir_); });
  EXPECT_NE(msg.find("model.safetensors"), std::string::npos) << msg;
}

TEST_F(QuantizedFolder, RowsThatAreNotWholeBlocksCannotBeQuantized) {
  auto cfg = small_decoder(models::DecoderArch::GPT2);
  cfg.d_model = 48, cfg.n_heads = 4;
  const models::GPT model(cfg, 1);
  const std::string msg = message_of([&] { infer::save_quantized_model(model, WeightFormat::Q8_0, dir_); });
  EXPECT_NE(msg.find("multiple of 32"), std::string::npos) << msg;
  EXPECT_NO_THROW(infer::save_quantized_model(model, WeightFormat::BF16, dir_));
}

}  // namespace
}  // namespace cornerstone::testing
