// The tokenizer inside a GGUF file: llama.cpp's tokenizer.ggml.* keys, plus the exact
// tokenizer.json as tokenizer.huggingface.json so that import rebuilds the same tokenizer.
//
//   tokenizer.ggml.model       "gpt2"  byte-level BPE (GPT-2, Qwen, Llama 3 style): tokens + merges
//                              "llama" SentencePiece-style BPE (byte fallback, "▁" for spaces):
//                                      tokens + scores (llama.cpp merges by score)
//                              "no_vocab" anything else (WordPiece, ...): llama.cpp loads the weights
//                                      but cannot tokenize; tokenizer.huggingface.json still has it
//   tokenizer.ggml.pre         the pre-tokenizer regex, by llama.cpp's name ("gpt-2", "qwen2",
//                              "llama-bpe"); "default" when the regex is not one llama.cpp knows
//   tokenizer.ggml.tokens / token_type / merges / scores, bos/eos/unknown/padding_token_id,
//   add_bos_token / add_eos_token (what the post-processor adds), add_space_prefix ("llama")
//
// A model's embedding may have more rows than the tokenizer has tokens (a vocabulary padded to a
// multiple of 64): the extra ids are written as "[PAD<id>]" tokens of type UNUSED, as llama.cpp's
// converter does.
//
// Scores for "llama" are derived from the merge ranks (score = -rank of the first merge that makes
// the token), which makes llama.cpp's highest-score-first merging follow the BPE merge order.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "cornerstone/io/gguf.h"
#include "cornerstone/tokenize/tokenizer.h"

namespace cornerstone::interop {

// llama.cpp's token types (tokenizer.ggml.token_type).
enum class GGUFTokenType : int32_t { Normal = 1, Unknown = 2, Control = 3, UserDefined = 4, Unused = 5, Byte = 6 };

struct GGUFTokenizerOptions {
  bool embed_tokenizer_json = true;  // write tokenizer.huggingface.json
};

// Adds the tokenizer keys for a model whose embedding has `model_vocab` rows. Returns notes for
// the user (an unrecognised pre-tokenizer, a tokenizer llama.cpp cannot run). Throws ValueError
// when the tokenizer has more tokens than the model has rows.
std::vector<std::string> add_tokenizer_to_gguf(const tokenize::Tokenizer& tok, int64_t model_vocab,
                                               io::GGUFWriter& w, const GGUFTokenizerOptions& options = {});

// The tokenizer.json text of a GGUF file: tokenizer.huggingface.json when present, else one
// rebuilt from tokenizer.ggml.* ("gpt2" and "llama" models); empty when the file has no
// tokenizer (no tokenizer.ggml.model, or "no_vocab" / "none"). Throws FormatError naming a malformed key,
// UnsupportedError naming a tokenizer model or pre-tokenizer that cannot be rebuilt. Notes about
// approximations go to `notes`.
std::string tokenizer_json_from_gguf(const io::GGUFFile& f, std::vector<std::string>* notes = nullptr);

}  // namespace cornerstone::interop
