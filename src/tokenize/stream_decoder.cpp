#include "cornerstone/tokenize/stream_decoder.h"

#include "cornerstone/core/error.h"
#include "tokenize/unicode.h"

namespace cornerstone::tokenize {

StreamDecoder::StreamDecoder(Tokenizer tokenizer, bool skip_special)
    : tokenizer_(std::move(tokenizer)), skip_special_(skip_special) {}

std::string StreamDecoder::push(int32_t id) {
  if (id < 0 || id >= tokenizer_.vocab_size())
    throw ValueError("StreamDecoder: token id " + std::to_string(id) + " is out of range for this vocabulary of " +
                     std::to_string(tokenizer_.vocab_size()) + " ids");
  ids_.push_back(id);
  const std::string text = tokenizer_.decode(ids_, skip_special_);
  // The decoders here only ever append to what the earlier ids decoded to.
  if (text.compare(0, emitted_.size(), emitted_) != 0) {
    // Not an extension (a decoder rewrote earlier text): start a fresh window at this id.
    ids_.assign(1, id);
    emitted_.clear();
    return push_fresh();
  }
  std::string fresh = text.substr(emitted_.size());
  const size_t complete = unicode::complete_prefix(fresh);
  if (complete < fresh.size()) return std::string();  // wait for the rest of the character
  // Everything is out: keep the last id as context for the next one (leading-space rules,
  // "##" joins) and forget the rest.
  ids_.erase(ids_.begin(), ids_.end() - 1);
  emitted_ = tokenizer_.decode(ids_, skip_special_);
  return fresh;
}

std::string StreamDecoder::push_fresh() {
  const std::string text = tokenizer_.decode(ids_, skip_special_);
  if (unicode::complete_prefix(text) < text.size()) return std::string();
  emitted_ = text;
  return text;
}

std::string StreamDecoder::finish() {
  const std::string text = tokenizer_.decode(ids_, skip_special_);
  std::string rest = text.compare(0, emitted_.size(), emitted_) == 0 ? text.substr(emitted_.size()) : text;
  ids_.clear();
  emitted_.clear();
  return rest;
}

}  // namespace cornerstone::tokenize
