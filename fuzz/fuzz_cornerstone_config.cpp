// Cornerstone's own configs: a pretraining config (model + training + masking), and the model
// sections alone, as `cornerstone pretrain --config FILE` reads them.
#include <nlohmann/json.hpp>

#include "cornerstone/models/gpt/decoder_config.h"
#include "cornerstone/models/bert/encoder_config.h"
#include "cornerstone/train/pretrain_config.h"
#include "fuzz_util.h"

using namespace cornerstone;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::rejecting([&] {
    const auto j = nlohmann::json::parse(reinterpret_cast<const char*>(data), reinterpret_cast<const char*>(data) + size);
    fuzz::rejecting([&] {
      const auto c = train::PretrainConfig::from_json(j, "config.json");
      fuzz::g_sink += static_cast<uint64_t>(c.sequence_length()) + c.to_json().dump().size();
    });
    fuzz::rejecting([&] { fuzz::g_sink += static_cast<uint64_t>(models::DecoderConfig::from_json(j).num_parameters()); });
    fuzz::rejecting([&] { fuzz::g_sink += static_cast<uint64_t>(models::EncoderConfig::from_json(j).num_parameters()); });
  });
  return 0;
}
