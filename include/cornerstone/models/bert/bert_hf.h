// BERT's Hugging Face config.json (BertForMaskedLM). The tensor names are BERT's members
// (hf_state_dict / load_hf_state_dict, listed in src/models/bert_hf.cpp).
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "cornerstone/models/bert/bert.h"

namespace cornerstone::models {

// config.json as transformers writes it for BertForMaskedLM (plus "pre_norm": true for a
// pre-norm encoder, which transformers does not have).
nlohmann::json hf_config(const EncoderConfig& cfg);
// The EncoderConfig a config.json describes; throws FormatError / UnsupportedError naming the key.
EncoderConfig encoder_config_from_hf(const nlohmann::json& j, const std::string& source = "config.json");

}  // namespace cornerstone::models
