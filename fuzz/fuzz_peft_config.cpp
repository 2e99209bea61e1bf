// A PEFT adapter folder's adapter_config.json, loaded onto a tiny GPT-2 (2 layers, width 32)
// beside a valid rank-2 adapter_model.safetensors for all of its linears.
#include <filesystem>

#include "cornerstone/adapt/lora.h"
#include "cornerstone/models/gpt/gpt.h"
#include "fuzz_util.h"

using namespace cornerstone;

namespace {
models::DecoderConfig tiny() {
  models::DecoderConfig c;
  c.arch = models::DecoderArch::GPT2;
  c.vocab_size = 64, c.context = 16, c.n_layers = 2, c.d_model = 32, c.n_heads = 2, c.n_kv_heads = 2, c.d_ff = 64;
  return c;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string folder = [] {
    const auto d = fuzz::scratch_dir() / "adapter";
    std::filesystem::create_directories(d);
    models::GPT model(tiny(), 1);
    adapt::LoRAConfig cfg;
    cfg.rank = 2;
    cfg.targets = {"c_attn", "c_proj", "c_fc"};
    adapt::apply_lora(model, cfg, 1);
    adapt::save_peft(model, cfg, d.string(), "tiny");
    return d.string();
  }();
  fuzz::write_scratch("adapter/adapter_config.json", {reinterpret_cast<const char*>(data), size});
  fuzz::rejecting([&] {
    models::GPT model(tiny(), 1);
    const adapt::LoRAConfig cfg = adapt::load_peft(model, folder);
    fuzz::g_sink += static_cast<uint64_t>(cfg.rank);
  });
  return 0;
}
