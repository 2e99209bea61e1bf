// A hostile adapter_config.json: r sizes every adapter load_peft allocates, so it is checked
// against the adapter file's own lora_A tensors (and a hard limit) before apply_lora runs.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "cli.h"
#include "cornerstone/adapt/lora.h"
#include "cornerstone/core/error.h"
#include "cornerstone/io/atomic_file.h"
#include "cornerstone/models/gpt/gpt.h"

using namespace cornerstone;

namespace {
models::DecoderConfig tiny_gpt2() {
  models::DecoderConfig c;
  c.arch = models::DecoderArch::GPT2;
  c.vocab_size = 64, c.context = 16, c.n_layers = 2, c.d_model = 32, c.n_heads = 2, c.n_kv_heads = 2, c.d_ff = 64;
  return c;
}

void expect_load_fails(const std::string& dir, const std::string& what) {
  models::GPT m(tiny_gpt2(), 1);
  try {
    adapt::load_peft(m, dir);
    ADD_FAILURE() << "loaded; expected " << what;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
  }
}
}  // namespace

// r = 60000 used to be allocated for every site ((60000, in) and (out, 60000) matrices) before
// the first shape mismatch was found; r = 2^40 asked for terabytes.
TEST(LoRARegressions, RankFromAdapterConfigIsCheckedBeforeAllocating) {
  const std::string dir = cornerstone::testing::fresh_temp_dir("peft_rank");
  {
    models::GPT m(tiny_gpt2(), 1);
    adapt::LoRAConfig cfg;
    cfg.rank = 2;
    cfg.targets = {"c_attn"};
    adapt::apply_lora(m, cfg, 1);
    adapt::save_peft(m, cfg, dir, "tiny");
  }
  auto j = nlohmann::json::parse(io::read_file(dir + "/adapter_config.json"));
  j["r"] = 60000;
  io::write_file_atomic(dir + "/adapter_config.json", j.dump());
  expect_load_fails(dir, "has shape (2, 32), expected (60000, 32): r = 60000 in");
  j["r"] = int64_t{1} << 40;
  io::write_file_atomic(dir + "/adapter_config.json", j.dump());
  expect_load_fails(dir, "adapter_config.json: r = 1099511627776 is outside the supported range [1, 65536]");
  j["r"] = 2;
  j["lora_dropout"] = 1.5;
  io::write_file_atomic(dir + "/adapter_config.json", j.dump());
  expect_load_fails(dir, "lora_dropout in [0, 1)");
  std::filesystem::remove_all(dir);
}
