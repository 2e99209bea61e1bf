#include "tokenize/wordpiece_model.h"

#include <algorithm>

#include "tokenize/unicode.h"

namespace cornerstone::tokenize {

WordPieceModel::WordPieceModel(WordPieceConfig config, const std::string& path)
    : unk_token_(std::move(config.unk_token)),
      prefix_(std::move(config.continuing_subword_prefix)),
      max_chars_(config.max_input_chars_per_word) {
  const std::string vocab_path = child_path(path, "vocab");
  int32_t max_id = -1;
  for (const auto& [token, id] : config.vocab) {
    if (id < 0) fail(vocab_path, "token '" + token + "' has the negative id " + std::to_string(id));
    max_id = std::max(max_id, id);
  }
  // Ids index a table: a stray huge id would ask for gigabytes.
  if (static_cast<size_t>(max_id) >= 4 * config.vocab.size() + 1024)
    fail(vocab_path, "id " + std::to_string(max_id) + " is far beyond the vocabulary size " +
                         std::to_string(config.vocab.size()) + "; ids should run from 0 to the vocabulary size - 1");
  tokens_.assign(static_cast<size_t>(max_id + 1), std::string());
  present_.assign(tokens_.size(), false);
  ids_.reserve(config.vocab.size());
  for (auto& [token, id] : config.vocab) {
    if (present_[id])
      fail(vocab_path, "id " + std::to_string(id) + " is used by both '" + tokens_[id] + "' and '" + token +
                           "'; every token needs its own id");
    ids_.insert(token, id);
    longest_token_ = std::max(longest_token_, token.size());
    tokens_[id] = std::move(token);
    present_[id] = true;
  }
  unk_id_ = ids_.find(unk_token_);
  if (unk_id_ < 0)
    fail(child_path(path, "unk_token"), "the unknown token '" + unk_token_ +
                                            "' is not in the vocabulary; WordPiece needs it for words it cannot split");
}

void WordPieceModel::encode(std::string_view word, std::vector<int32_t>& out) const {
  if (word.empty()) return;
  // Character boundaries (code points; each ill-formed byte is one character).
  thread_local std::vector<size_t> bounds;
  bounds.clear();
  for (size_t i = 0; i < word.size(); i += unicode::decode(word, i).len) bounds.push_back(i);
  bounds.push_back(word.size());
  const size_t chars = bounds.size() - 1;
  if (static_cast<int64_t>(chars) > max_chars_) {
    out.push_back(unk_id_);
    return;
  }
  const size_t mark = out.size();
  std::string candidate;
  size_t start = 0;
  while (start < chars) {
    // Start from the longest candidate that could be in the vocabulary, not from the word's end:
    // with a large max_input_chars_per_word a long word would otherwise cost O(chars^2) lookups
    // of O(chars)-byte strings.
    const auto last = std::upper_bound(bounds.begin() + static_cast<std::ptrdiff_t>(start), bounds.end(),
                                       bounds[start] + longest_token_);
    size_t end = static_cast<size_t>(last - bounds.begin()) - 1;
    int32_t found = -1;
    while (start < end) {
      candidate.clear();
      if (start > 0) candidate += prefix_;
      candidate.append(word.substr(bounds[start], bounds[end] - bounds[start]));
      found = ids_.find(candidate);
      if (found >= 0) break;
      --end;
    }
    if (found < 0) {
      out.resize(mark);
      out.push_back(unk_id_);
      return;
    }
    out.push_back(found);
    start = end;
  }
}

std::optional<int32_t> WordPieceModel::token_to_id(std::string_view token) const {
  const int32_t id = ids_.find(token);
  return id >= 0 ? std::optional<int32_t>(id) : std::nullopt;
}

const std::string* WordPieceModel::id_to_token(int32_t id) const {
  if (id < 0 || static_cast<size_t>(id) >= tokens_.size() || !present_[id]) return nullptr;
  return &tokens_[id];
}

OrderedJson WordPieceModel::to_json() const {
  std::vector<std::pair<const std::string, OrderedJson>> entries;
  entries.reserve(tokens_.size());
  for (size_t id = 0; id < tokens_.size(); ++id)
    if (present_[id]) entries.emplace_back(tokens_[id], OrderedJson(id));
  OrderedJson j;
  j["type"] = "WordPiece";
  j["unk_token"] = unk_token_;
  j["continuing_subword_prefix"] = prefix_;
  j["max_input_chars_per_word"] = max_chars_;
  j["vocab"] = OrderedJson(OrderedJson::object_t(entries.begin(), entries.end()));
  return j;
}

std::unique_ptr<WordPieceModel> WordPieceModel::from_json(const Json& json, const std::string& path) {
  WordPieceConfig config;
  if (auto u = get_optional_string(json, "unk_token", path)) config.unk_token = *u;
  if (auto p = get_optional_string(json, "continuing_subword_prefix", path)) config.continuing_subword_prefix = *p;
  if (const Json* m = optional_field(json, "max_input_chars_per_word", path)) {
    config.max_input_chars_per_word = as_int(*m, child_path(path, "max_input_chars_per_word"));
    if (config.max_input_chars_per_word <= 0)
      fail(child_path(path, "max_input_chars_per_word"), "must be a positive integer");
  }
  const std::string vocab_path = child_path(path, "vocab");
  const Json& vocab = as_object(field(json, "vocab", path), vocab_path);
  config.vocab.reserve(vocab.size());
  for (const auto& [token, id] : vocab.items()) config.vocab.emplace_back(token, as_id(id, child_path(vocab_path, token)));
  return std::make_unique<WordPieceModel>(std::move(config), path);
}

}  // namespace cornerstone::tokenize
