// Hostile configs: integers far beyond any model (refused with the key and the limit, before any
// allocation), and configs that describe a larger model than the weights beside them hold
// (refused before the model allocates, instead of after allocating on the first missing tensor).
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "cornerstone/core/error.h"
#include "cornerstone/io/atomic_file.h"
#include "cornerstone/io/gguf.h"
#include "cornerstone/models/gpt/decoder_config.h"
#include "cornerstone/models/bert/encoder_config.h"
#include "cornerstone/interop/gguf_tokenizer.h"
#include "cornerstone/models/gpt/gpt_gguf.h"
#include "cornerstone/models/gpt/gpt_hf.h"
#include "cornerstone/models/load.h"
#include "cli.h"
#include "interop_fixtures.h"

using namespace cornerstone;
using namespace cornerstone::testing;
namespace fs = std::filesystem;

namespace {

template <typename E>
void expect_error(const std::function<void()>& f, const std::vector<std::string>& parts) {
  try {
    f();
    ADD_FAILURE() << "accepted; expected an error containing " << parts.front();
  } catch (const E& e) {
    for (const auto& p : parts) EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << e.what();
  }
}

}  // namespace

TEST(HostileConfigs, CornerstoneConfigIntegersHaveLimits) {
  expect_error<ValueError>([] { models::DecoderConfig::from_json({{"n_layers", 100000}}); },
                           {"n_layers = 100000 is outside the supported range [1, 4096]"});
  expect_error<ValueError>([] { models::DecoderConfig::from_json({{"vocab_size", int64_t{1} << 40}}); },
                           {"vocab_size", "[1, 16777216]"});
  expect_error<ValueError>([] { models::EncoderConfig::from_json({{"arch", "bert"}, {"d_ff", int64_t{1} << 30}}); },
                           {"d_ff", "[1, 262144]"});
  // 2^64 - 1 used to be read as -1 by get<int64_t>().
  expect_error<ValueError>([] { models::DecoderConfig::from_json(nlohmann::json::parse(R"({"context": 18446744073709551615})")); },
                           {"model.context: integer out of range"});
}

// Found by fuzz/fuzz_hf_config: a Llama config with num_attention_heads 0 and a head_dim used to
// divide by zero while checking head_dim, before the config's own validation ran.
TEST(HostileConfigs, HfLlamaZeroHeadsWithHeadDimIsRefusedNotDivided) {
  nlohmann::json j = models::hf_config(tiny_config(models::DecoderArch::Llama, 300));
  j["num_attention_heads"] = 0;
  j["head_dim"] = 16;
  expect_error<ValueError>([&] { models::config_from_hf(j, "hub/config.json"); }, {"hub/config.json", "n_heads"});
}

TEST(HostileConfigs, HfConfigIntegersNameTheFileKeyAndLimit) {
  nlohmann::json j = models::hf_config(tiny_config(models::DecoderArch::GPT2, 300));
  j["n_embd"] = int64_t{1} << 20;
  expect_error<ValueError>([&] { models::config_from_hf(j, "hub/config.json"); },
                           {"hub/config.json: model config: d_model = 1048576 is outside the supported range [1, 65536]"});
  j = models::hf_config(tiny_config(models::DecoderArch::Llama, 300));
  j["num_hidden_layers"] = nlohmann::json::parse("18446744073709551615");
  expect_error<FormatError>([&] { models::config_from_hf(j, "hub/config.json"); }, {"'num_hidden_layers'", "does not fit in 64 bits"});
}

// config.json claims 4000 layers, model.safetensors holds 2: refused before the 4000-layer model
// is allocated (it used to allocate, then fail on the missing 'transformer.h.2...' tensor).
TEST(HostileConfigs, ConfigLargerThanTheWeightsIsRefusedBeforeAllocating) {
  const std::string dir = fresh_temp_dir("hostile_cfg");
  const models::GPT model(tiny_config(models::DecoderArch::GPT2, 300), 1);
  write_model_folder(model, nullptr, dir);
  nlohmann::json j = nlohmann::json::parse(io::read_file(dir + "/config.json"));
  j["n_layer"] = 4000;
  io::write_file_atomic(dir + "/config.json", j.dump());
  expect_error<FormatError>([&] { models::load_model(dir); }, {"config.json: the config describes a model of", "weight files hold only"});
  expect_error<FormatError>([&] { models::load_gpt(dir); }, {"weight files hold only"});
  fs::remove_all(dir);
}

TEST(HostileConfigs, GgufMetadataLargerThanItsTensorsIsRefusedBeforeAllocating) {
  const std::string dir = fresh_temp_dir("hostile_gguf");
  const models::GPT model(tiny_config(models::DecoderArch::Llama, 300), 1);
  io::GGUFWriter w;
  models::add_gpt_to_gguf(model, DType::F32, "hostile", w);
  w.set("llama.feed_forward_length", io::GGUFValue::u32(200000));
  w.write(dir + "/m.gguf");
  expect_error<FormatError>([&] { models::gpt_from_gguf(io::GGUFFile::open(dir + "/m.gguf")); },
                            {"m.gguf: the llama.* metadata describes a model of", "tensors hold only"});
  w.set("llama.block_count", io::GGUFValue::u32(100000));
  w.write(dir + "/m2.gguf");
  expect_error<FormatError>([&] { models::gpt_from_gguf(io::GGUFFile::open(dir + "/m2.gguf")); },
                            {"n_layers = 100000 is outside the supported range"});
  fs::remove_all(dir);
}

// A SentencePiece-style GGUF vocabulary with one 200 000-byte token: rebuilding the merges looked
// up both halves of every cut in a hash map (O(length^2) bytes copied and hashed: ~4e10 for this
// token). Tries make it linear. The merges found must still be exactly the splits.
TEST(HostileConfigs, LongGgufTokenRebuildsTheTokenizerInLinearTime) {
  const std::string dir = fresh_temp_dir("hostile_gguf_tok");
  const std::string long_token(200000, 'a');
  io::GGUFWriter w;
  w.set("general.architecture", io::GGUFValue::string("llama"));
  w.set("tokenizer.ggml.model", io::GGUFValue::string("llama"));
  w.set("tokenizer.ggml.tokens", io::GGUFValue::strings({"<unk>", "a", "aa", long_token.substr(1), long_token}));
  w.set("tokenizer.ggml.scores", io::GGUFValue::f32s({0, -1, -2, -3, -4}));
  w.set("tokenizer.ggml.token_type", io::GGUFValue::i32s({2, 1, 1, 1, 1}));
  w.write(dir + "/t.gguf");
  const auto f = io::GGUFFile::open(dir + "/t.gguf");
  const auto start = std::chrono::steady_clock::now();
  const auto j = nlohmann::json::parse(interop::tokenizer_json_from_gguf(f));
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_LT(seconds, 5.0);
  // "aa" = a + a; the long token = a + (199 999 a) and (199 999 a) + a; no other cut has both halves.
  const auto& merges = j["model"]["merges"];
  ASSERT_EQ(merges.size(), 3u) << merges.dump().substr(0, 200);
  EXPECT_EQ(merges[0], nlohmann::json({"a", "a"}));
  EXPECT_EQ(merges[1][0], "a");
  EXPECT_EQ(merges[1][1].get<std::string>().size(), 199999u);
  EXPECT_EQ(merges[2][0].get<std::string>().size(), 199999u);
  EXPECT_EQ(merges[2][1], "a");
  fs::remove_all(dir);
}
