#include "tokenize/bpe_model.h"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <functional>

#include "cornerstone/core/error.h"
#include "tokenize/byte_level.h"
#include "tokenize/unicode.h"
#include "tokenize/word_cache.h"

namespace cornerstone::tokenize {

namespace {

std::atomic<uint64_t> g_next_serial{1};

std::string byte_fallback_token(unsigned char b) {
  char buf[8];
  std::snprintf(buf, sizeof(buf), "<0x%02X>", b);
  return buf;
}

}  // namespace

BpeModel::BpeModel(BpeConfig config, const std::string& path)
    : config_(std::move(config)), serial_(g_next_serial.fetch_add(1)) {
  const std::string vocab_path = child_path(path, "vocab");
  int32_t max_id = -1;
  for (const auto& [token, id] : config_.vocab) {
    if (id < 0) fail(vocab_path, "token '" + token + "' has the negative id " + std::to_string(id));
    max_id = std::max(max_id, id);
  }
  // Ids index a table: a stray huge id would ask for gigabytes.
  if (static_cast<size_t>(max_id) >= 4 * config_.vocab.size() + 1024)
    fail(vocab_path, "id " + std::to_string(max_id) + " is far beyond the vocabulary size " +
                         std::to_string(config_.vocab.size()) + "; ids should run from 0 to the vocabulary size - 1");
  tokens_.assign(static_cast<size_t>(max_id + 1), std::string());
  present_.assign(tokens_.size(), false);
  ids_.reserve(config_.vocab.size());
  for (const auto& [token, id] : config_.vocab) {
    if (present_[id])
      fail(vocab_path, "id " + std::to_string(id) + " is used by both '" + tokens_[id] + "' and '" + token +
                           "'; every token needs its own id");
    tokens_[id] = token;
    present_[id] = true;
    ids_.insert(token, id);
  }
  config_.vocab.clear();
  config_.vocab.shrink_to_fit();

  const std::string merges_path = child_path(path, "merges");
  const std::string& prefix = config_.continuing_subword_prefix ? *config_.continuing_subword_prefix : std::string();
  merges_.reserve(config_.merges.size());
  merge_list_.reserve(config_.merges.size());
  for (size_t rank = 0; rank < config_.merges.size(); ++rank) {
    const auto& [a, b] = config_.merges[rank];
    const std::string where = index_path(merges_path, rank);
    const int32_t left = ids_.find(a), right = ids_.find(b);
    if (left < 0) fail(where, "token '" + a + "' is not in model.vocab; every merge must combine vocabulary tokens");
    if (right < 0) fail(where, "token '" + b + "' is not in model.vocab; every merge must combine vocabulary tokens");
    const std::string_view tail =
        (!prefix.empty() && b.compare(0, prefix.size(), prefix) == 0) ? std::string_view(b).substr(prefix.size()) : b;
    const std::string merged = a + std::string(tail);
    const int32_t id = ids_.find(merged);
    if (id < 0) fail(where, "the merged token '" + merged + "' is not in model.vocab; add it or drop the merge");
    merges_.insert(left, right, {static_cast<int32_t>(rank), id});
    merge_list_.emplace_back(left, right);
  }
  config_.merges.clear();
  config_.merges.shrink_to_fit();

  for (int b = 0; b < 256; ++b) {
    byte_ids_[b] = ids_.find(byte_level::char_of(static_cast<unsigned char>(b)));
    fallback_ids_[b] = ids_.find(byte_fallback_token(static_cast<unsigned char>(b)));
  }
  if (config_.unk_token) unk_id_ = ids_.find(*config_.unk_token);
  plain_symbols_ = (!config_.continuing_subword_prefix || config_.continuing_subword_prefix->empty()) &&
                   (!config_.end_of_word_suffix || config_.end_of_word_suffix->empty());
}

void BpeModel::initial_symbols(std::string_view piece, std::vector<int32_t>& symbols) const {
  symbols.clear();
  if (config_.byte_level && plain_symbols_) {
    for (char c : piece) {
      const int32_t id = byte_ids_[static_cast<unsigned char>(c)];
      if (id >= 0) symbols.push_back(id);
      else if (unk_id_ >= 0 && !(config_.fuse_unk && !symbols.empty() && symbols.back() == unk_id_))
        symbols.push_back(unk_id_);
    }
    return;
  }
  // General path: characters (or bytes, spelled byte-level), with prefix/suffix decoration.
  const std::string& prefix = config_.continuing_subword_prefix ? *config_.continuing_subword_prefix : std::string();
  const std::string& suffix = config_.end_of_word_suffix ? *config_.end_of_word_suffix : std::string();
  std::string s;
  bool pending_unk = false;  // fuse_unk: consecutive unknowns become one unknown token
  for (size_t i = 0; i < piece.size();) {
    const int len = config_.byte_level ? 1 : unicode::decode(piece, i).len;
    const std::string_view ch = piece.substr(i, len);
    const bool first = i == 0;
    i += len;
    const bool last = i == piece.size();
    s.clear();
    if (!first) s += prefix;
    if (config_.byte_level) s += byte_level::char_of(static_cast<unsigned char>(ch[0]));
    else s += ch;
    if (last) s += suffix;
    if (const int32_t id = ids_.find(s); id >= 0) {
      if (pending_unk) symbols.push_back(unk_id_), pending_unk = false;
      symbols.push_back(id);
      continue;
    }
    if (config_.byte_fallback) {
      const bool all = std::all_of(ch.begin(), ch.end(), [&](char c) { return fallback_ids_[static_cast<unsigned char>(c)] >= 0; });
      if (all) {
        if (pending_unk) symbols.push_back(unk_id_), pending_unk = false;
        for (char c : ch) symbols.push_back(fallback_ids_[static_cast<unsigned char>(c)]);
        continue;
      }
    }
    if (unk_id_ < 0) continue;  // no unknown token: the character is dropped, as in the reference
    if (pending_unk && !config_.fuse_unk) symbols.push_back(unk_id_);
    pending_unk = true;
  }
  if (pending_unk) symbols.push_back(unk_id_);
}

void BpeModel::merge(std::vector<int32_t>& symbols) const {
  const size_t n = symbols.size();
  if (n < 2) return;
  // Linked list over symbol slots; a merged-away slot gets id -1.
  thread_local std::vector<int32_t> prev, next;
  thread_local std::vector<uint64_t> heap;  // (rank << 32) | position, min-heap
  prev.resize(n);
  next.resize(n);
  heap.clear();
  for (size_t i = 0; i < n; ++i) {
    prev[i] = static_cast<int32_t>(i) - 1;
    next[i] = i + 1 < n ? static_cast<int32_t>(i + 1) : -1;
  }
  auto push = [&](int32_t pos) {
    if (const auto* m = merges_.find(symbols[pos], symbols[next[pos]])) {
      heap.push_back((static_cast<uint64_t>(m->rank) << 32) | static_cast<uint32_t>(pos));
      std::push_heap(heap.begin(), heap.end(), std::greater<>());
    }
  };
  for (size_t i = 0; i + 1 < n; ++i) push(static_cast<int32_t>(i));
  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), std::greater<>());
    const uint64_t top = heap.back();
    heap.pop_back();
    const auto pos = static_cast<int32_t>(top & 0xFFFFFFFFu);
    const auto rank = static_cast<int32_t>(top >> 32);
    if (symbols[pos] < 0 || next[pos] < 0) continue;
    const int32_t right = next[pos];
    const auto* m = merges_.find(symbols[pos], symbols[right]);
    if (m == nullptr || m->rank != rank) continue;  // stale: a neighbour changed since the push
    symbols[pos] = m->id;
    symbols[right] = -1;
    next[pos] = next[right];
    if (next[pos] >= 0) prev[next[pos]] = pos;
    if (prev[pos] >= 0) push(prev[pos]);
    if (next[pos] >= 0) push(pos);
  }
  symbols.erase(std::remove(symbols.begin(), symbols.end(), -1), symbols.end());
}

void BpeModel::encode(std::string_view piece, std::vector<int32_t>& out) const {
  if (piece.empty()) return;
  if (config_.ignore_merges) {
    const int32_t id = config_.byte_level ? ids_.find(byte_level::encode(piece)) : ids_.find(piece);
    if (id >= 0) {
      out.push_back(id);
      return;
    }
  }
  WordCache& cache = WordCache::for_thread(serial_);
  const bool cacheable = piece.size() <= WordCache::kMaxWordBytes;
  const uint64_t hash = cacheable ? hash_bytes(piece) : 0;
  if (cacheable && cache.lookup(piece, hash, out)) return;
  thread_local std::vector<int32_t> symbols;
  initial_symbols(piece, symbols);
  merge(symbols);
  if (cacheable) cache.insert(piece, hash, symbols.data(), symbols.size());
  out.insert(out.end(), symbols.begin(), symbols.end());
}

std::optional<int32_t> BpeModel::token_to_id(std::string_view token) const {
  const int32_t id = ids_.find(token);
  return id >= 0 ? std::optional<int32_t>(id) : std::nullopt;
}

const std::string* BpeModel::id_to_token(int32_t id) const {
  if (id < 0 || static_cast<size_t>(id) >= tokens_.size() || !present_[id]) return nullptr;
  return &tokens_[id];
}

OrderedJson BpeModel::to_json() const {
  auto opt = [](const std::optional<std::string>& s) { return s ? OrderedJson(*s) : OrderedJson(nullptr); };
  OrderedJson::object_t vocab;
  std::vector<std::pair<const std::string, OrderedJson>> entries;
  entries.reserve(tokens_.size());
  for (size_t id = 0; id < tokens_.size(); ++id)
    if (present_[id]) entries.emplace_back(tokens_[id], OrderedJson(id));
  OrderedJson merges = OrderedJson::array();
  merges.get_ref<OrderedJson::array_t&>().reserve(merge_list_.size());
  for (const auto& [a, b] : merge_list_) merges.push_back(OrderedJson::array({tokens_[a], tokens_[b]}));
  OrderedJson j;
  j["type"] = "BPE";
  j["dropout"] = nullptr;
  j["unk_token"] = opt(config_.unk_token);
  j["continuing_subword_prefix"] = opt(config_.continuing_subword_prefix);
  j["end_of_word_suffix"] = opt(config_.end_of_word_suffix);
  j["fuse_unk"] = config_.fuse_unk;
  j["byte_fallback"] = config_.byte_fallback;
  j["ignore_merges"] = config_.ignore_merges;
  // Built in one go: inserting 100k+ keys one at a time into an ordered object is quadratic.
  j["vocab"] = OrderedJson(OrderedJson::object_t(entries.begin(), entries.end()));
  j["merges"] = std::move(merges);
  return j;
}

std::unique_ptr<BpeModel> BpeModel::from_json(const Json& json, const std::string& path, bool byte_level) {
  BpeConfig config;
  config.byte_level = byte_level;
  if (const Json* d = optional_field(json, "dropout", path)) {
    if (!d->is_number()) fail(child_path(path, "dropout"), "expected a number or null, got " + type_name(*d));
    if (d->get<double>() > 0.0)
      throw UnsupportedError(child_path(path, "dropout") +
                             ": BPE dropout is not supported by Cornerstone (encoding is deterministic); set it to "
                             "null");
  }
  config.unk_token = get_optional_string(json, "unk_token", path);
  config.continuing_subword_prefix = get_optional_string(json, "continuing_subword_prefix", path);
  config.end_of_word_suffix = get_optional_string(json, "end_of_word_suffix", path);
  config.fuse_unk = get_bool(json, "fuse_unk", path, false);
  config.byte_fallback = get_bool(json, "byte_fallback", path, false);
  config.ignore_merges = get_bool(json, "ignore_merges", path, false);

  const std::string vocab_path = child_path(path, "vocab");
  const Json& vocab = as_object(field(json, "vocab", path), vocab_path);
  config.vocab.reserve(vocab.size());
  for (const auto& [token, id] : vocab.items()) config.vocab.emplace_back(token, as_id(id, child_path(vocab_path, token)));

  const std::string merges_path = child_path(path, "merges");
  const Json* merges = optional_field(json, "merges", path);
  if (merges) {
    as_array(*merges, merges_path);
    config.merges.reserve(merges->size());
    for (size_t i = 0; i < merges->size(); ++i) {
      const Json& m = (*merges)[i];
      const std::string where = index_path(merges_path, i);
      if (m.is_string()) {
        const std::string s = m.get<std::string>();
        const size_t space = s.find(' ');
        if (space == std::string::npos || space == 0 || space + 1 == s.size())
          fail(where, "expected \"left right\" (two tokens separated by one space), got \"" + s + "\"");
        config.merges.emplace_back(s.substr(0, space), s.substr(space + 1));
      } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
        config.merges.emplace_back(m[0].get<std::string>(), m[1].get<std::string>());
      } else {
        fail(where, "expected a merge as \"left right\" or [\"left\", \"right\"], got " + type_name(m) + " " +
                        m.dump().substr(0, 60));
      }
    }
  }
  return std::make_unique<BpeModel>(std::move(config), path);
}

}  // namespace cornerstone::tokenize
