// Shared pieces of the interop tests: small models of both families, a tokenizer trained on a few
// paragraphs, model folders as a pretraining run leaves them, and folder/file helpers.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "cornerstone/models/gpt/gpt.h"
#include "cornerstone/tokenize/tokenizer.h"

namespace cornerstone::testing {

// 2 layers, d_model 64, 4 heads of 16 (Llama: 2 KV heads, untied head; GPT-2: tied), rows that
// are whole 32-blocks, init_std 0.1 so that weights are not all tiny.
models::DecoderConfig tiny_config(models::DecoderArch arch, int64_t vocab_size);

// A byte-level BPE of ~300 tokens with <|endoftext|> (id 0), trained on built-in text; cached.
const tokenize::Tokenizer& tiny_tokenizer();
// Text to encode in tokenizer parity checks (ASCII, UTF-8, digits, whitespace runs, specials).
const std::vector<std::string>& sample_texts();

// Writes config.json + model.safetensors (+ tokenizer.json) into `dir` (created), as a run folder.
void write_model_folder(const models::GPT& model, const tokenize::Tokenizer* tok, const std::string& dir);

// The bytes of a file.
std::string file_bytes(const std::string& path);
// Expects every parameter of `a` and `b` to be identical, bit for bit.
void expect_same_weights(const models::GPT& a, const models::GPT& b);

}  // namespace cornerstone::testing
