// StreamDecoder: the pieces concatenate to decode(all ids), and no piece ends inside a UTF-8
// character, on byte-level, byte-fallback and WordPiece tokenizers.
#include <gtest/gtest.h>

#include "cornerstone/core/error.h"
#include "cornerstone/tokenize/stream_decoder.h"
#include "reference.h"

namespace {

using cornerstone::tokenize::StreamDecoder;
using cornerstone::tokenize::Tokenizer;

// True when `s` does not end in the middle of a multi-byte sequence that could still complete.
bool ends_on_boundary(const std::string& s) {
  for (size_t back = 1; back <= 3 && back <= s.size(); ++back) {
    const unsigned char b = s[s.size() - back];
    if ((b & 0xC0) == 0x80) continue;
    const size_t need = b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : b >= 0xC0 ? 2 : 1;
    return need <= back;
  }
  return true;
}

void expect_streams(const Tokenizer& tok) {
  size_t held = 0;
  for (const auto& t : cornerstone::testing::parity_texts()) {
    const auto ids = tok.encode(t.bytes);
    StreamDecoder stream(tok);
    std::string out;
    for (int32_t id : ids) {
      const std::string piece = stream.push(id);
      if (piece.empty()) ++held;
      if (t.valid_utf8) { EXPECT_TRUE(ends_on_boundary(piece)) << t.name; }
      out += piece;
    }
    out += stream.finish();
    EXPECT_EQ(out, tok.decode(ids)) << t.name;
  }
  EXPECT_GT(held, 0u);  // multi-token characters (emoji, CJK) were held back at least once
}

TEST(StreamDecoder, ByteLevelGpt2) { expect_streams(Tokenizer::load(cornerstone::testing::fetch("gpt2-tokenizer"))); }

TEST(StreamDecoder, ByteFallbackLlama2) {
  const Tokenizer tok = Tokenizer::load(cornerstone::testing::fetch("llama2-tokenizer") + "/models");
  expect_streams(tok);
  // The leading space of the first word is stripped once, at the start of the stream only.
  StreamDecoder stream(tok);
  std::string out;
  for (int32_t id : tok.encode("Hello world")) out += stream.push(id);
  EXPECT_EQ(out, "Hello world");
}

TEST(StreamDecoder, WordPieceBert) {
  const Tokenizer tok = Tokenizer::load(cornerstone::testing::bert_vocab_txt());
  StreamDecoder stream(tok);
  std::string out;
  for (int32_t id : tok.encode("Tokenization is unbelievably useful.")) out += stream.push(id);
  EXPECT_EQ(out, "tokenization is unbelievably useful.");
}

TEST(StreamDecoder, RejectsUnknownIds) {
  StreamDecoder stream(Tokenizer::load(cornerstone::testing::fetch("gpt2-tokenizer")));
  EXPECT_THROW(stream.push(50257), cornerstone::ValueError);
  EXPECT_EQ(stream.push(15496), "Hello");
}

}  // namespace
