// Tokenizer: the encode / decode pipeline over the loaded components.
#include "cornerstone/tokenize/tokenizer.h"

#include <algorithm>

#include "cornerstone/core/error.h"
#include "tokenize/tokenizer_impl.h"

namespace cornerstone::tokenize {

Tokenizer::Tokenizer(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}

namespace {

// Normalizes, pre-tokenizes and encodes one stretch of text that holds no raw added token.
void encode_text(const Tokenizer::Impl& t, std::string_view text, bool at_start, std::vector<int32_t>& out) {
  const std::string normalized = t.normalizer ? t.normalizer->normalize(text) : std::string(text);
  std::vector<AddedVocabulary::Segment> segments;
  t.added.split(normalized, /*normalized_tokens=*/true, segments);
  for (const auto& seg : segments) {
    if (seg.id >= 0) {
      out.push_back(seg.id);
      continue;
    }
    PreTokenized pt(normalized.substr(seg.begin, seg.end - seg.begin), at_start && seg.begin == 0);
    if (t.pre_tokenizer) t.pre_tokenizer->pre_tokenize(pt);
    for (const auto& piece : pt.pieces) t.model->encode(pt.view(piece), out);
  }
}

}  // namespace

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_special) const {
  const Impl& t = *impl_;
  // Pieces are addressed with 32-bit offsets (half the memory of 64-bit ones on large corpora).
  if (text.size() >= (size_t{1} << 32) - 16)
    throw ValueError("encode: a text of " + std::to_string(text.size()) +
                     " bytes is too long for one call (limit 4 GiB); encode it in chunks, e.g. per document");
  std::vector<int32_t> ids;
  ids.reserve(text.size() / 3 + 8);
  std::vector<AddedVocabulary::Segment> segments;
  t.added.split(text, /*normalized_tokens=*/false, segments);
  for (const auto& seg : segments) {
    if (seg.id >= 0) ids.push_back(seg.id);
    else encode_text(t, text.substr(seg.begin, seg.end - seg.begin), seg.begin == 0, ids);
  }
  if (add_special && t.post_processor) t.post_processor->process(ids);
  return ids;
}

std::string Tokenizer::decode(std::span<const int32_t> ids, bool skip_special) const {
  const Impl& t = *impl_;
  std::vector<std::string> tokens;
  tokens.reserve(ids.size());
  for (int32_t id : ids) {
    if (id < 0 || id >= t.vocab_size)
      throw ValueError("decode: token id " + std::to_string(id) + " is out of range for this vocabulary of " +
                       std::to_string(t.vocab_size) + " ids; were these ids produced by another tokenizer?");
    if (const AddedToken* added = t.added.find(id)) {
      if (!(skip_special && added->special)) tokens.push_back(added->content);
    } else if (const std::string* token = t.model->id_to_token(id)) {
      tokens.push_back(*token);
    }
  }
  if (!t.decoder) {
    std::string joined;
    for (size_t i = 0; i < tokens.size(); ++i) {
      if (i) joined += ' ';
      joined += tokens[i];
    }
    return joined;
  }
  t.decoder->decode_chain(tokens);
  std::string text;
  for (const auto& s : tokens) text += s;
  return text;
}

int64_t Tokenizer::vocab_size() const { return impl_->vocab_size; }

std::optional<int32_t> Tokenizer::token_to_id(std::string_view token) const {
  if (const AddedToken* added = impl_->added.find(token)) return added->id;
  return impl_->model->token_to_id(token);
}

std::string Tokenizer::id_to_token(int32_t id) const {
  if (const AddedToken* added = impl_->added.find(id)) return added->content;
  const std::string* token = impl_->model->id_to_token(id);
  return token ? *token : std::string();
}

bool Tokenizer::is_special(int32_t id) const {
  const AddedToken* added = impl_->added.find(id);
  return added && added->special;
}

std::optional<int32_t> Tokenizer::special_id(SpecialRole role) const {
  return impl_->specials[static_cast<size_t>(role)];
}

bool Tokenizer::is_byte_level() const { return impl_->byte_level; }

}  // namespace cornerstone::tokenize
