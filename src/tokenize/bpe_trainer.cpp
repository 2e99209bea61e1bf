#include "cornerstone/tokenize/bpe_trainer.h"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <queue>
#include <unordered_map>

#include "cornerstone/core/error.h"
#include "cornerstone/core/parallel.h"
#include "tokenize/bpe_model.h"
#include "tokenize/byte_level.h"
#include "cornerstone/io/atomic_file.h"
#include "tokenize/tokenizer_impl.h"
#include "tokenize/word_counter.h"

namespace cornerstone::tokenize {

namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

uint64_t pair_key(int32_t a, int32_t b) { return (static_cast<uint64_t>(a) << 32) | static_cast<uint32_t>(b); }
int32_t pair_left(uint64_t k) { return static_cast<int32_t>(k >> 32); }
int32_t pair_right(uint64_t k) { return static_cast<int32_t>(k & 0xFFFFFFFFu); }

struct Word {
  std::vector<int32_t> symbols;
  int64_t count;
};

// A queue entry: most frequent first; equal counts, smaller pair first.
struct Candidate {
  int64_t count;
  uint64_t pair;
  bool operator<(const Candidate& o) const { return count != o.count ? count < o.count : pair > o.pair; }
};

struct Change {
  uint64_t pair;
  int32_t delta;  // occurrences gained (+) or lost (-) in one copy of the word
};

// Replaces each occurrence of (a, b), left to right, by `id` and records how the neighbouring
// pairs change. The pair (a, b) itself is dropped by the caller.
void merge_word(std::vector<int32_t>& s, int32_t a, int32_t b, int32_t id, std::vector<Change>& changes) {
  size_t w = 0;
  const size_t n = s.size();
  for (size_t i = 0; i < n;) {
    if (i + 1 < n && s[i] == a && s[i + 1] == b) {
      if (w > 0) {
        changes.push_back({pair_key(s[w - 1], a), -1});
        changes.push_back({pair_key(s[w - 1], id), +1});
      }
      if (i + 2 < n) {
        changes.push_back({pair_key(b, s[i + 2]), -1});
        changes.push_back({pair_key(id, s[i + 2]), +1});
      }
      s[w++] = id;
      i += 2;
    } else {
      s[w++] = s[i++];
    }
  }
  s.resize(w);
}

struct Vocabulary {
  std::vector<std::string> bytes;  // id -> raw bytes of the token
  std::unordered_map<std::string, int32_t> ids;

  int32_t add(const std::string& token) {
    auto [it, inserted] = ids.emplace(token, static_cast<int32_t>(bytes.size()));
    if (inserted) bytes.push_back(token);
    return it->second;
  }
};

Tokenizer train(std::span<const std::string_view> documents, const BpeTrainerOptions& options,
                BpeTrainerReport* report) {
  const int64_t n_special = static_cast<int64_t>(options.special_tokens.size());
  if (options.vocab_size < n_special + 256)
    throw ValueError("train_bpe: vocab_size " + std::to_string(options.vocab_size) + " leaves no room: the " +
                     std::to_string(n_special) + " special tokens and the 256 byte tokens need at least " +
                     std::to_string(n_special + 256));
  if (options.min_frequency < 0) throw ValueError("train_bpe: min_frequency must be >= 0");
  for (const auto& s : options.special_tokens)
    if (s.empty()) throw ValueError("train_bpe: a special token cannot be the empty string");
  const int threads = options.threads > 0 ? options.threads : num_threads();

  // The tokenizer being built: its pre-tokenizer and added tokens also drive the counting, so that
  // training sees the corpus exactly as encoding will.
  auto impl = std::make_unique<Tokenizer::Impl>();
  impl->pre_tokenizer = make_byte_level_pre_tokenizer(/*add_prefix_space=*/false, /*use_regex=*/true);
  impl->byte_level = true;
  impl->decoder = make_byte_level_decoder();
  std::vector<AddedToken> added;
  for (int64_t i = 0; i < n_special; ++i)
    added.push_back(AddedToken{options.special_tokens[i], static_cast<int32_t>(i), true, false, false, false, false});
  const AddedVocabulary splitter(added, nullptr);

  const auto t0 = Clock::now();
  const WordCounts counted = count_words(documents, splitter, *impl->pre_tokenizer, threads);
  const double count_seconds = seconds_since(t0);
  const auto t1 = Clock::now();

  // Vocabulary: special tokens, then the 256 bytes in the order of their byte-level characters.
  Vocabulary vocab;
  for (const auto& s : options.special_tokens) vocab.add(s);
  std::vector<int> order(256);
  for (int b = 0; b < 256; ++b) order[b] = b;
  auto code_point = [](int b) {
    const std::string& c = byte_level::char_of(static_cast<unsigned char>(b));
    return c.size() == 1 ? static_cast<unsigned char>(c[0])
                         : ((static_cast<unsigned char>(c[0]) & 0x1F) << 6) | (static_cast<unsigned char>(c[1]) & 0x3F);
  };
  std::sort(order.begin(), order.end(), [&](int a, int b) { return code_point(a) < code_point(b); });
  std::array<int32_t, 256> byte_id{};
  for (int b : order) byte_id[b] = vocab.add(std::string(1, static_cast<char>(b)));

  std::vector<Word> words(counted.words.size());
  for (size_t i = 0; i < words.size(); ++i) {
    const auto& [text, count] = counted.words[i];
    words[i].count = count;
    words[i].symbols.reserve(text.size());
    for (char c : text) words[i].symbols.push_back(byte_id[static_cast<unsigned char>(c)]);
  }

  // Pair counts and, per pair, the words that (may) contain it.
  std::unordered_map<uint64_t, int64_t> pair_counts;
  std::unordered_map<uint64_t, std::vector<uint32_t>> where;
  for (uint32_t w = 0; w < words.size(); ++w) {
    const auto& s = words[w].symbols;
    for (size_t i = 0; i + 1 < s.size(); ++i) {
      const uint64_t k = pair_key(s[i], s[i + 1]);
      pair_counts[k] += words[w].count;
      auto& list = where[k];
      if (list.empty() || list.back() != w) list.push_back(w);
    }
  }
  std::priority_queue<Candidate> queue;
  for (const auto& [k, c] : pair_counts)
    if (c > 0) queue.push({c, k});

  std::vector<std::pair<int32_t, int32_t>> merges;
  std::vector<Change> changes;
  std::unordered_map<uint64_t, std::vector<uint32_t>> touched;  // new pair -> words gaining it
  while (static_cast<int64_t>(vocab.bytes.size()) < options.vocab_size && !queue.empty()) {
    Candidate top = queue.top();
    queue.pop();
    auto pc = pair_counts.find(top.pair);
    const int64_t current = pc == pair_counts.end() ? 0 : pc->second;
    if (top.count != current) {  // stale entry: requeue with the up-to-date count
      if (current > 0) queue.push({current, top.pair});
      continue;
    }
    if (top.count < 1 || top.count < options.min_frequency) break;
    const int32_t a = pair_left(top.pair), b = pair_right(top.pair);
    const int32_t id = vocab.add(vocab.bytes[a] + vocab.bytes[b]);
    merges.emplace_back(a, b);

    std::vector<uint32_t> list = std::move(where[top.pair]);
    where.erase(top.pair);
    pair_counts.erase(top.pair);
    touched.clear();
    for (uint32_t w : list) {
      changes.clear();
      merge_word(words[w].symbols, a, b, id, changes);
      for (const Change& ch : changes) {
        if (ch.pair == top.pair) continue;
        pair_counts[ch.pair] += ch.delta * words[w].count;
        if (ch.delta > 0) {
          auto& t = touched[ch.pair];
          if (t.empty() || t.back() != w) t.push_back(w);
        }
      }
    }
    for (auto& [k, ws] : touched) {
      auto& list_k = where[k];
      list_k.insert(list_k.end(), ws.begin(), ws.end());
      const int64_t c = pair_counts[k];
      if (c > 0) queue.push({c, k});
    }
  }
  const double merge_seconds = seconds_since(t1);

  BpeConfig config;
  config.byte_level = true;
  config.vocab.reserve(vocab.bytes.size());
  for (size_t id = 0; id < vocab.bytes.size(); ++id) {
    const bool special = static_cast<int64_t>(id) < n_special;
    config.vocab.emplace_back(special ? vocab.bytes[id] : byte_level::encode(vocab.bytes[id]), static_cast<int32_t>(id));
  }
  for (const auto& [a, b] : merges)
    config.merges.emplace_back(byte_level::encode(vocab.bytes[a]), byte_level::encode(vocab.bytes[b]));
  impl->model = std::make_unique<BpeModel>(std::move(config), "model");
  impl->post_processor = PostProcessor::from_json(
      Json{{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", false}, {"use_regex", true}},
      "post_processor");

  if (report) {
    report->bytes = 0;
    for (auto d : documents) report->bytes += static_cast<int64_t>(d.size());
    report->words = counted.total;
    report->distinct_words = static_cast<int64_t>(counted.words.size());
    report->merges = static_cast<int64_t>(merges.size());
    report->count_seconds = count_seconds;
    report->merge_seconds = merge_seconds;
  }
  return Tokenizer(finish_impl(std::move(impl), std::move(added), nullptr));
}

}  // namespace

Tokenizer train_bpe_on_texts(std::span<const std::string> documents, const BpeTrainerOptions& options,
                             BpeTrainerReport* report) {
  std::vector<std::string_view> views(documents.begin(), documents.end());
  return train(views, options, report);
}

Tokenizer train_bpe(const std::vector<std::string>& files, const BpeTrainerOptions& options,
                    BpeTrainerReport* report) {
  if (files.empty()) throw ValueError("train_bpe: no corpus files given");
  std::vector<std::string> contents;
  contents.reserve(files.size());
  for (const auto& f : files) contents.push_back(io::read_file(f));
  return train_bpe_on_texts(contents, options, report);
}

}  // namespace cornerstone::tokenize
