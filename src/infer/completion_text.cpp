#include "cornerstone/infer/completion_text.h"

#include <algorithm>

#include "cornerstone/core/error.h"

namespace cornerstone::infer {

namespace {

// Length of the longest suffix of `text` that is a proper prefix of some stop string: that much
// must be held back, since the next token may complete the stop string.
size_t held_back(const std::string& text, const std::vector<std::string>& stops) {
  size_t hold = 0;
  for (const std::string& s : stops)
    for (size_t k = std::min(s.size() - 1, text.size()); k > hold; --k)
      if (text.compare(text.size() - k, k, s, 0, k) == 0) {
        hold = k;
        break;
      }
  return hold;
}

}  // namespace

CompletionText::CompletionText(const tokenize::Tokenizer& tokenizer, std::vector<std::string> stop)
    : stream_(tokenizer, /*skip_special=*/true), stop_(std::move(stop)) {
  for (const std::string& s : stop_)
    if (s.empty()) throw ValueError("stop strings must not be empty");
}

bool CompletionText::push(int32_t token) {
  if (final_) return true;
  const size_t before = text_.size();
  text_ += stream_.push(token);
  for (const std::string& s : stop_) {
    // Only a match that ends in the new text is new; it may start up to |s| - 1 bytes earlier.
    const size_t from = before >= s.size() ? before - s.size() + 1 : 0;
    const size_t at = text_.find(s, from);
    if (at != std::string::npos) {
      text_.resize(at);
      certain_ = text_.size();
      final_ = true;
      return true;
    }
  }
  certain_ = text_.size() - held_back(text_, stop_);
  return false;
}

void CompletionText::finish() {
  if (!final_) text_ += stream_.finish();
  certain_ = text_.size();
  final_ = true;
}

std::string CompletionText::take() {
  if (certain_ <= taken_) return {};
  std::string piece = text_.substr(taken_, certain_ - taken_);
  taken_ = certain_;
  return piece;
}

}  // namespace cornerstone::infer
