// A Hugging Face config.json as the loaders read it (decoder or encoder), then the sizes the
// engine computes from an accepted config before allocating.
#include <nlohmann/json.hpp>

#include "cornerstone/models/bert/bert_hf.h"
#include "cornerstone/models/gpt/gpt_hf.h"
#include "fuzz_util.h"

using namespace cornerstone;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::rejecting([&] {
    const auto j = nlohmann::json::parse(reinterpret_cast<const char*>(data), reinterpret_cast<const char*>(data) + size);
    fuzz::rejecting([&] {
      const auto c = models::config_from_hf(j, "config.json");
      fuzz::g_sink += static_cast<uint64_t>(c.num_parameters()) + models::hf_tensor_names(c).size() + models::hf_config(c).size();
      fuzz::g_sink += static_cast<uint64_t>(c.train_flops_per_token(c.context));
    });
    fuzz::rejecting([&] {
      const auto c = models::encoder_config_from_hf(j, "config.json");
      fuzz::g_sink += static_cast<uint64_t>(c.num_parameters());
    });
  });
  return 0;
}
