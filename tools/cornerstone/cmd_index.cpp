// `cornerstone index build|add|remove|info` and `cornerstone search`: retrieval indexes
// (rag/index.h) over text files, searched densely, by BM25, or both.
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "command.h"
#include "cornerstone/core/error.h"
#include "cornerstone/rag/index.h"
#include "cornerstone/rag/rerank.h"

namespace {

using namespace cornerstone;

void print_report(const char* verb, const std::string& dir, const rag::IndexReport& r) {
  std::printf("%s %s: %lld file%s, %lld chunks added, %lld removed", verb, dir.c_str(), static_cast<long long>(r.files), r.files == 1 ? "" : "s",
              static_cast<long long>(r.chunks), static_cast<long long>(r.removed));
  if (r.skipped) std::printf(", %lld empty file%s skipped", static_cast<long long>(r.skipped), r.skipped == 1 ? "" : "s");
  std::printf(" in %.1f s", r.seconds);
  if (r.chunks) std::printf(" (%.1f chunks/s)", r.chunks_per_second());
  std::printf("\n");
}

// The separator as typed in a shell ('\n\n', backslash and n) -> two newlines: \n, \t, \r and a doubled
// backslash are read; any other backslash stays as it is.
std::string unescape(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    const char next = i + 1 < s.size() ? s[i + 1] : '\0';
    if (s[i] == '\\' && (next == 'n' || next == 't' || next == 'r' || next == '\\')) {
      out += next == 'n' ? '\n' : next == 't' ? '\t' : next == 'r' ? '\r' : '\\';
      ++i;
    } else {
      out += s[i];
    }
  }
  return out;
}

void add_index(CLI::App& app) {
  auto* cmd = app.add_subcommand("index", "Retrieval indexes: text files split into passages, embedded (FAISS) and stored for BM25 (SQLite FTS5)");
  cmd->require_subcommand(1);

  auto* build = cmd->add_subcommand("build", "Build a new index folder from text files (plain, markdown, reStructuredText, .gz)");
  static std::string embed_model, out, type = "flat", separator;
  static std::vector<std::string> inputs, extensions;
  static int64_t chunk_tokens = 256, overlap = 32, batch = 32;
  static bool quiet = false;
  build->add_option("--embed-model", embed_model, "The model that embeds passages and queries (any load() opens that can embed: a BERT run, a contrastive fine-tune)")
      ->required();
  build->add_option("--input", inputs, "Files, folders (walked recursively) or glob patterns; repeatable")->required();
  build->add_option("--out", out, "The index folder to create (must not exist or be empty)")->required();
  build->add_option("--chunk-tokens", chunk_tokens, "Tokens per passage (of the embedding model's tokenizer)")->capture_default_str()->check(CLI::PositiveNumber);
  build->add_option("--overlap", overlap, "Tokens shared by neighbouring passages")->capture_default_str()->check(CLI::NonNegativeNumber);
  build->add_option("--separator", separator,
                    "Cut at this text first and pack whole sections into passages (e.g. '\\n\\n' for paragraphs; C escapes \\n \\t \\\\ "
                    "are read); a section over --chunk-tokens is cut into windows");
  build->add_option("--index", type, "Vector index: flat (exact), hnsw (graph, approximate) or ivf (k-means cells)")
      ->capture_default_str()
      ->check(CLI::IsMember({"flat", "hnsw", "ivf"}));
  build->add_option("--ext", extensions, "File name endings indexed inside folders (default: .txt .md .rst .text .markdown, each also .gz)");
  build->add_option("--batch", batch, "Passages per embedding forward pass")->capture_default_str()->check(CLI::PositiveNumber);
  build->add_flag("--quiet", quiet, "No progress lines");
  build->callback([] {
    rag::IndexOptions o;
    o.embed_model = embed_model;
    o.chunk = {chunk_tokens, overlap, unescape(separator)};
    o.type = rag::vector_index_type_from_name(type);
    if (!extensions.empty()) o.extensions = extensions;
    o.batch = batch;
    o.progress = !quiet;
    print_report("built", out, rag::Index::build(out, inputs, o));
  });

  auto* add = cmd->add_subcommand("add", "Add files to an index (a file already in it is replaced); a new version, switched to atomically");
  static std::string add_dir;
  static std::vector<std::string> add_inputs;
  static bool add_quiet = false;
  add->add_option("--index", add_dir, "The index folder")->required();
  add->add_option("--input", add_inputs, "Files, folders or glob patterns; repeatable")->required();
  add->add_flag("--quiet", add_quiet, "No progress lines");
  add->callback([] { print_report("updated", add_dir, rag::Index::add(add_dir, add_inputs, !add_quiet)); });

  auto* remove = cmd->add_subcommand("remove", "Remove files (or everything under a folder) from an index");
  static std::string rm_dir;
  static std::vector<std::string> rm_paths;
  remove->add_option("--index", rm_dir, "The index folder")->required();
  remove->add_option("paths", rm_paths, "Paths as they were indexed")->required();
  remove->callback([] { print_report("updated", rm_dir, rag::Index::remove(rm_dir, rm_paths)); });

  auto* info = cmd->add_subcommand("info", "What an index holds and what built it");
  static std::string info_dir;
  static bool info_sources = false, info_json = false;
  info->add_option("index", info_dir, "The index folder")->required();
  info->add_flag("--sources", info_sources, "List the indexed files");
  info->add_flag("--json", info_json, "Print JSON");
  info->callback([] {
    const auto ix = rag::Index::open(info_dir);
    nlohmann::json j = ix.info();
    if (info_sources) {
      j["files"] = nlohmann::json::array();
      for (const auto& s : ix.store().sources()) j["files"].push_back({{"path", s.path}, {"bytes", s.bytes}, {"chunks", s.chunks}});
    }
    if (info_json) {
      std::printf("%s\n", j.dump(2).c_str());
      return;
    }
    std::printf("index %s (%s)\n", info_dir.c_str(), j["current"].get<std::string>().c_str());
    std::printf("  %lld sources, %lld chunks of <= %lld tokens (overlap %lld), %s vectors of %lld floats\n", j["sources"].get<long long>(),
                j["chunks"].get<long long>(), j["chunk_tokens"].get<long long>(), j["overlap"].get<long long>(),
                j["index_type"].get<std::string>().c_str(), j["dim"].get<long long>());
    std::printf("  embedded by %s (%s, %s pooling)\n", j["embed_model"].get<std::string>().c_str(), j.value("embed_model_type", "?").c_str(),
                j["pooling"].get<std::string>().c_str());
    if (info_sources)
      for (const auto& f : j["files"]) std::printf("  %6lld chunks  %s\n", f["chunks"].get<long long>(), f["path"].get<std::string>().c_str());
  });
}

void add_search(CLI::App& app) {
  auto* cmd = app.add_subcommand("search", "Search an index: dense (embeddings), bm25 (words) or hybrid (both, fused by reciprocal rank)");
  static std::string dir, query, mode = "hybrid", embed_model, rerank;
  static int64_t k = 10;
  static bool json = false;
  cmd->add_option("--index", dir, "The index folder")->required();
  cmd->add_option("--query", query, "What to look for")->required();
  cmd->add_option("--mode", mode, "dense, bm25 or hybrid")->capture_default_str()->check(CLI::IsMember({"dense", "bm25", "hybrid"}));
  cmd->add_option("--k", k, "Passages to return")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--embed-model", embed_model, "Embed the query with this model instead of the index's (same vector size)");
  cmd->add_option("--rerank", rerank, "Rescore the candidates with this cross-encoder (`finetune --task rerank`)");
  cmd->add_flag("--json", json, "Print JSON lines: rank, score, source, offsets, text");
  cmd->callback([] {
    const auto ix = rag::Index::open(dir, embed_model);
    std::optional<rag::CrossEncoder> reranker;
    if (!rerank.empty()) reranker.emplace(rerank);
    rag::SearchOptions o;
    o.mode = rag::search_mode_from_name(mode);
    o.k = k;
    if (reranker) o.rerank = &*reranker;
    const auto hits = ix.search(query, o);
    if (hits.empty()) std::fprintf(stderr, "no passage matches\n");
    for (size_t i = 0; i < hits.size(); ++i) {
      const auto& h = hits[i];
      if (json) {
        const nlohmann::json j = rag::hit_json(h, static_cast<int64_t>(i + 1));
        std::printf("%s\n", j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
        continue;
      }
      std::string text = h.chunk.text.substr(0, 300);
      for (char& c : text)
        if (c == '\n' || c == '\r' || c == '\t') c = ' ';
      std::printf("%2zu. %.4f  %s [%lld-%lld]\n    %s%s\n", i + 1, h.score, h.chunk.source.c_str(), static_cast<long long>(h.chunk.begin),
                  static_cast<long long>(h.chunk.end), text.c_str(), h.chunk.text.size() > 300 ? " ..." : "");
    }
  });
}

}  // namespace

CORNERSTONE_COMMAND(add_index, 54)
CORNERSTONE_COMMAND(add_search, 55)
