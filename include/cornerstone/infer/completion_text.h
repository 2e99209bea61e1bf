// The text of one generated sequence as tokens arrive: decoded incrementally, cut at the first
// stop string, and handed out only once it is certain (a piece that might be the start of a stop
// string waits for the next token).
//
//   CompletionText t(tokenizer, {"\n\n"});
//   for (int32_t id : sampled) {
//     const bool stopped = t.push(id);    // true: a stop string ended the text (it is cut off)
//     send(t.take());                      // the newly certain text, often ""
//     if (stopped) break;
//   }
//   t.finish();  send(t.take());          // at the end of the sequence: the rest
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "cornerstone/tokenize/stream_decoder.h"
#include "cornerstone/tokenize/tokenizer.h"

namespace cornerstone::infer {

class CompletionText {
 public:
  // Throws ValueError for an empty stop string.
  CompletionText(const tokenize::Tokenizer& tokenizer, std::vector<std::string> stop);

  // Appends a token's text (special tokens are skipped). Returns true when the text now contains
  // a stop string: the text is cut before it and is final.
  bool push(int32_t token);
  // Ends the sequence: flushes an incomplete UTF-8 tail and releases held-back text.
  void finish();
  // The text that became certain since the last take().
  std::string take();
  // The certain text so far (all of it after finish() or a stop).
  std::string text() const { return text_.substr(0, certain_); }

 private:
  tokenize::StreamDecoder stream_;
  std::vector<std::string> stop_;
  std::string text_;     // everything decoded (cut at a stop string)
  size_t certain_ = 0;   // prefix of text_ that can no longer change
  size_t taken_ = 0;     // prefix of text_ already returned by take()
  bool final_ = false;
};

}  // namespace cornerstone::infer
