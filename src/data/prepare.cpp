#include "cornerstone/data/prepare.h"

#include <glob.h>
#include <zlib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <omp.h>

#include "cornerstone/core/error.h"
#include "cornerstone/core/parallel.h"
#include "cornerstone/core/progress.h"
#include "cornerstone/data/token_shards.h"
#include "cornerstone/io/atomic_file.h"
#include "cornerstone/io/staged_folder.h"

namespace cornerstone::data {

namespace fs = std::filesystem;

std::vector<std::string> expand_inputs(const std::vector<std::string>& inputs, const std::function<bool(const std::string&)>& in_folders) {
  std::vector<std::string> files;
  auto add_path = [&](const fs::path& p) {
    if (fs::is_directory(p)) {
      for (auto it = fs::recursive_directory_iterator(p); it != fs::recursive_directory_iterator(); ++it) {
        const std::string name = it->path().filename().string();
        if (!name.empty() && name[0] == '.') {
          if (it->is_directory()) it.disable_recursion_pending();
          continue;
        }
        if (it->is_regular_file() && (!in_folders || in_folders(name))) files.push_back(it->path().string());
      }
    } else if (fs::is_regular_file(p)) {
      files.push_back(p.string());
    }
  };
  for (const std::string& in : inputs) {
    const size_t before = files.size();
    if (fs::exists(in)) {
      add_path(in);
    } else {
      glob_t g{};
      if (::glob(in.c_str(), 0, nullptr, &g) == 0)
        for (size_t i = 0; i < g.gl_pathc; ++i) add_path(g.gl_pathv[i]);
      globfree(&g);
    }
    if (files.size() == before) throw IOError("--input '" + in + "' matches no file");
  }
  std::sort(files.begin(), files.end());
  files.erase(std::unique(files.begin(), files.end()), files.end());
  return files;
}

std::string read_text(const std::string& path) {
  if (path.size() > 3 && path.compare(path.size() - 3, 3, ".gz") == 0) {
    gzFile f = gzopen(path.c_str(), "rb");
    if (!f) throw IOError("cannot open '" + path + "'");
    std::string out;
    char buf[1 << 16];
    int n;
    while ((n = gzread(f, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
    // gzread reports a stream cut short as a plain end of file; gzclose says Z_BUF_ERROR then.
    const bool bad = n < 0;
    const int closed = gzclose(f);
    if (bad || closed != Z_OK)
      throw IOError("'" + path + "': corrupt gzip data" + (closed == Z_BUF_ERROR ? " (the stream ends early: truncated?)" : ""));
    return out;
  }
  return io::read_file(path);
}

namespace {

// FNV-1a of a file name, mixed, as a number in [0, 1).
double unit_hash(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  return static_cast<double>(h >> 11) / 9007199254740992.0;
}

// Writes a split's documents into shards of at most `shard_tokens` tokens.
int64_t write_split(const std::string& dir, const std::string& split, const std::vector<std::vector<int32_t>>& docs,
                    uint64_t vocab, uint64_t shard_tokens) {
  int64_t shard = 0;
  std::unique_ptr<TokenShardWriter> w;
  auto open = [&] {
    char name[64];
    std::snprintf(name, sizeof name, "%s-%05lld.bin", split.c_str(), static_cast<long long>(shard++));
    w = std::make_unique<TokenShardWriter>((fs::path(dir) / name).string(), vocab);
  };
  for (const auto& d : docs) {
    if (!w || w->tokens() + d.size() > shard_tokens) {
      if (w) w->finish();
      open();
    }
    w->append_document(d);
  }
  if (w) w->finish();
  return shard;
}

}  // namespace

PrepareSummary prepare(const tokenize::Tokenizer& tok, const std::vector<std::string>& inputs, const std::string& out_dir,
                       const PrepareOptions& opt) {
  if (!(opt.val_fraction >= 0 && opt.val_fraction < 1))
    throw ValueError("--val-fraction must be in [0, 1), got " + std::to_string(opt.val_fraction));
  const auto t0 = std::chrono::steady_clock::now();
  const std::vector<std::string> files = expand_inputs(inputs);
  // Shards, tokenizer and meta.json are written into a staging folder that replaces OUT in one
  // rename: a reader (pretrain lists train-*.bin) sees the old dataset or the new one, never old
  // shards beside new ones or half of a new set. Files in OUT that prepare does not write stay.
  io::StagedFolder out(out_dir, io::StagedFolder::Existing::Replace, [](const std::string& n) {
    return n == "tokenizer.json" || n == "meta.json" || n.rfind("train-", 0) == 0 || n.rfind("val-", 0) == 0;
  });
  const std::string staged = out.path();
  // Documents end with the end-of-text token; a WordPiece (BERT) vocabulary has none and ends
  // them with [SEP], which the masked-LM sampler keeps as a boundary (never masked).
  const std::optional<int32_t> eos = tok.eos_id() ? tok.eos_id() : tok.sep_id();
  const uint64_t vocab = static_cast<uint64_t>(tok.vocab_size());

  std::vector<int64_t> sizes(files.size());
  int64_t total_bytes = 0;
  for (size_t i = 0; i < files.size(); ++i) total_bytes += sizes[i] = static_cast<int64_t>(fs::file_size(files[i]));

  std::vector<std::vector<int32_t>> docs(files.size());
  std::vector<int64_t> text_bytes(files.size());  // decompressed: what the tokens/byte figures count
  std::atomic<int64_t> done_bytes{0};
  Progress bar("prepare", total_bytes, "bytes");
  std::exception_ptr error;
#pragma omp parallel for schedule(dynamic, 1)
  for (size_t i = 0; i < files.size(); ++i) {
    try {
      const std::string text = read_text(files[i]);
      text_bytes[i] = static_cast<int64_t>(text.size());
      docs[i] = tok.encode(text);
      if (eos && !docs[i].empty()) docs[i].push_back(*eos);
    } catch (...) {
#pragma omp critical
      if (!error) error = std::current_exception();
    }
    const int64_t d = done_bytes += sizes[i];
    if (opt.progress && omp_get_thread_num() == 0) bar.update(d);
  }
  if (error) std::rethrow_exception(error);
  if (opt.progress) bar.finish();

  // The validation split: the round(F * documents) documents with the smallest hash of their file
  // name (an exact share, and independent of where the corpus lives).
  PrepareSummary s;
  std::vector<std::pair<double, size_t>> order;
  for (size_t i = 0; i < files.size(); ++i) {
    if (docs[i].empty()) continue;
    ++s.documents;
    s.bytes += text_bytes[i];
    order.emplace_back(unit_hash(fs::path(files[i]).filename().string()), i);
  }
  std::sort(order.begin(), order.end());
  const size_t n_val = static_cast<size_t>(std::llround(opt.val_fraction * static_cast<double>(order.size())));
  std::vector<bool> is_val(files.size(), false);
  for (size_t k = 0; k < n_val && k + 1 < order.size(); ++k) is_val[order[k].second] = true;
  std::vector<std::vector<int32_t>> train, val;
  for (size_t i = 0; i < files.size(); ++i)
    if (!docs[i].empty()) (is_val[i] ? val : train).push_back(std::move(docs[i]));
  if (s.documents == 0) throw ValueError("no text found in the inputs (" + std::to_string(files.size()) + " files, all empty)");
  // A corpus with too few documents for a hashed split: the tail of the last document is held out.
  if (opt.val_fraction > 0 && (val.empty() || train.empty())) {
    auto& all = train.empty() ? val : train;
    std::vector<int32_t>& last = all.back();
    int64_t total = 0;
    for (const auto& d : all) total += static_cast<int64_t>(d.size());
    const int64_t want = std::max<int64_t>(1, static_cast<int64_t>(opt.val_fraction * static_cast<double>(total)));
    const int64_t take = std::min<int64_t>(want, static_cast<int64_t>(last.size()) / 2);
    if (take > 0) {
      std::vector<int32_t> tail(last.end() - take, last.end());
      last.resize(last.size() - static_cast<size_t>(take));
      std::vector<std::vector<int32_t>> held{std::move(tail)};
      if (&all == &val) {
        train = std::move(val);
        val.clear();
      }
      val = std::move(held);
    }
  }
  for (const auto& d : train) s.train_tokens += static_cast<int64_t>(d.size());
  for (const auto& d : val) s.val_tokens += static_cast<int64_t>(d.size());
  s.val_documents = static_cast<int64_t>(val.size());

  s.shards = write_split(staged, "train", train, vocab, opt.shard_tokens) + write_split(staged, "val", val, vocab, opt.shard_tokens);
  tok.save((fs::path(staged) / "tokenizer.json").string());
  s.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const nlohmann::json meta = {{"documents", s.documents},     {"val_documents", s.val_documents},
                               {"bytes", s.bytes},             {"train_tokens", s.train_tokens},
                               {"val_tokens", s.val_tokens},   {"vocab_size", vocab},
                               {"eos_id", eos ? *eos : -1}, {"document_separator", eos ? tok.id_to_token(*eos) : ""},    {"val_fraction", opt.val_fraction},
                               {"inputs", inputs}};
  io::write_file_atomic((fs::path(staged) / "meta.json").string(), meta.dump(2) + "\n");
  out.commit();
  return s;
}

}  // namespace cornerstone::data
