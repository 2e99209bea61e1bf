#include "cornerstone/adapt/model_inputs.h"

#include <algorithm>

#include "cornerstone/core/error.h"

namespace cornerstone::adapt {

data::Batch PaddedBatch::batch() const {
  data::Batch b;
  b.set(data::batch_keys::ids, ids).set(data::batch_keys::lengths, lengths);
  if (segments.defined()) b.set(data::batch_keys::segments, segments);
  return b;
}

InputFormat::InputFormat(tokenize::Tokenizer tokenizer, models::TextFraming framing, int64_t max_length)
    : tokenizer_(std::move(tokenizer)), encoder_(framing == models::TextFraming::ClsSep), max_length_(max_length) {
  const bool encoder = encoder_;
  if (max_length < (encoder ? 3 : 2)) throw ValueError("max length " + std::to_string(max_length) + " leaves no room for text");
  if (encoder) {
    const auto cls = tokenizer_.cls_id(), sep = tokenizer_.sep_id();
    if (!cls || !sep)
      throw ValueError(std::string("an encoder's inputs are framed as [CLS] text [SEP], and its tokenizer has no ") +
                       (!cls ? "[CLS]" : "[SEP]") + " token");
    cls_ = *cls, sep_ = *sep;
  }
}

ModelInput InputFormat::text(const std::string& text) const {
  ModelInput in;
  std::vector<int32_t> t = tokenizer_.encode(text);
  if (encoder_) {
    t.resize(std::min<size_t>(t.size(), static_cast<size_t>(max_length_ - 2)));
    in.ids.push_back(cls_);
    in.ids.insert(in.ids.end(), t.begin(), t.end());
    in.ids.push_back(sep_);
    return in;
  }
  const auto eos = tokenizer_.eos_id();
  t.resize(std::min<size_t>(t.size(), static_cast<size_t>(max_length_) - (eos ? 1 : 0)));
  if (eos) t.push_back(*eos);
  if (t.empty()) t.push_back(0);
  in.ids = std::move(t);
  return in;
}

ModelInput InputFormat::pair(const std::string& a, const std::string& b) const {
  if (!encoder_)
    throw UnsupportedError("a text pair needs an encoder (BERT): its [SEP] separator and segment ids tell the two texts apart; "
                           "a decoder reads one text");
  std::vector<int32_t> ta = tokenizer_.encode(a), tb = tokenizer_.encode(b);
  while (static_cast<int64_t>(ta.size() + tb.size()) > max_length_ - 3) (ta.size() >= tb.size() ? ta : tb).pop_back();
  ModelInput in;
  in.ids.push_back(cls_);
  in.ids.insert(in.ids.end(), ta.begin(), ta.end());
  in.ids.push_back(sep_);
  in.segments.assign(in.ids.size(), 0);
  in.ids.insert(in.ids.end(), tb.begin(), tb.end());
  in.ids.push_back(sep_);
  in.segments.resize(in.ids.size(), 1);
  return in;
}

ModelInput InputFormat::words(const std::vector<std::string>& words) const {
  ModelInput in;
  const int64_t room = max_length_ - (encoder_ ? 1 : 0);  // an encoder keeps a place for the final [SEP]
  if (encoder_) in.ids.push_back(cls_), in.word_of.push_back(-1);
  for (size_t w = 0; w < words.size(); ++w) {
    // A decoder's byte-level vocabulary spells the words of running text with their leading space;
    // BERT's basic tokenizer splits on whitespace first, so the space changes nothing there.
    const std::vector<int32_t> pieces = tokenizer_.encode(w == 0 || encoder_ ? words[w] : " " + words[w]);
    for (size_t p = 0; p < pieces.size() && static_cast<int64_t>(in.ids.size()) < room; ++p) {
      in.ids.push_back(pieces[p]);
      in.word_of.push_back(p == 0 ? static_cast<int32_t>(w) : -1);
    }
  }
  if (encoder_) in.ids.push_back(sep_), in.word_of.push_back(-1);
  return in;
}

PaddedBatch pad_batch(const std::vector<const ModelInput*>& inputs, int64_t length_multiple, int64_t max_length) {
  const int64_t B = static_cast<int64_t>(inputs.size());
  int64_t T = 0;
  bool pairs = false;
  for (const ModelInput* in : inputs) T = std::max<int64_t>(T, static_cast<int64_t>(in->ids.size())), pairs |= !in->segments.empty();
  const int64_t longest = T;
  if (length_multiple > 1) T = (T + length_multiple - 1) / length_multiple * length_multiple;
  if (max_length > 0) T = std::max(longest, std::min(T, max_length));
  std::vector<int32_t> ids(static_cast<size_t>(B * T), 0), segments(pairs ? static_cast<size_t>(B * T) : 0, 0), lengths;
  for (int64_t b = 0; b < B; ++b) {
    const ModelInput& in = *inputs[static_cast<size_t>(b)];
    std::copy(in.ids.begin(), in.ids.end(), ids.begin() + b * T);
    std::copy(in.segments.begin(), in.segments.end(), segments.begin() + (pairs ? b * T : 0));
    lengths.push_back(static_cast<int32_t>(in.ids.size()));
  }
  PaddedBatch out{Tensor::from_data({B, T}, ids), Tensor::from_data({B}, lengths), Tensor()};
  if (pairs) out.segments = Tensor::from_data({B, T}, segments);
  return out;
}

}  // namespace cornerstone::adapt
