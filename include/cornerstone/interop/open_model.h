// Float weights from wherever a user keeps them: a model folder (config.json + safetensors, any
// registered family; its tokenizer.json beside) or a GGUF file (llama.cpp; weights dequantized to
// f32 through the family that reads its general.architecture, the tokenizer it embeds). The one
// opener of pretrained weights under cornerstone::load() and the fine-tuning task models.
//
//   auto [model, tokenizer] = interop::open_pretrained("models/llama.gguf");
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cornerstone/models/pretrained.h"
#include "cornerstone/tokenize/tokenizer.h"

namespace cornerstone::interop {

// True when PATH is a file that starts with GGUF's magic.
bool is_gguf_file(const std::string& path);

struct OpenedModel {
  std::shared_ptr<models::PretrainedModel> model;
  std::optional<tokenize::Tokenizer> tokenizer;  // absent when the folder or file has none
};

// `also_present`: tensors a folder's weight file may hold beyond the model's (a task head).
// Throws IOError / FormatError naming PATH when it is neither a model folder nor a GGUF file.
OpenedModel open_pretrained(const std::string& path, const std::vector<std::string>& also_present = {});

}  // namespace cornerstone::interop
