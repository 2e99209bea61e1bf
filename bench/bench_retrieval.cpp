// Retrieval search speed and approximate-index quality (docs/retrieval.md): every query of a
// JSONL set ({"query", ...}) through each index and mode, with the query's embedding included in
// its time, after one warm-up pass. One JSON line per (index, mode):
//
//   bench_retrieval --queries q.jsonl --exact idx-flat --index idx-hnsw --index idx-ivf --k 10
//   {"index":"idx-hnsw","type":"hnsw","mode":"dense","chunks":98765,"p50_ms":..,"p99_ms":..,
//    "mean_ms":..,"recall_at_k_vs_exact":0.97}
//
// recall_at_k_vs_exact: the share of the exact (flat) index's top k chunks that the index also
// returns in its top k, dense mode (all indexes must be built from the same files and embedder).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "cornerstone/core/parallel.h"
#include "cornerstone/rag/index.h"

using namespace cornerstone;

namespace {

[[noreturn]] void usage() {
  std::fprintf(stderr, "usage: bench_retrieval --queries FILE --exact IDX [--index IDX ...] [--k 10] [--threads N] [--limit N]\n");
  std::exit(2);
}

double percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v[static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5)];
}

}  // namespace

int main(int argc, char** argv) {
  std::string queries_path, exact;
  std::vector<std::string> others;
  int64_t k = 10, limit = 0;
  int threads = 2;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : (usage(), ""); };
    if (a == "--queries") queries_path = next();
    else if (a == "--exact") exact = next();
    else if (a == "--index") others.push_back(next());
    else if (a == "--k") k = std::atoll(next().c_str());
    else if (a == "--threads") threads = std::atoi(next().c_str());
    else if (a == "--limit") limit = std::atoll(next().c_str());
    else usage();
  }
  if (queries_path.empty() || exact.empty()) usage();
  set_num_threads(threads);
  std::vector<std::string> queries;
  std::ifstream in(queries_path);
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) queries.push_back(nlohmann::json::parse(line).at("query").get<std::string>());
  if (limit > 0 && static_cast<int64_t>(queries.size()) > limit) queries.resize(static_cast<size_t>(limit));
  if (queries.empty()) {
    std::fprintf(stderr, "bench_retrieval: no queries in %s\n", queries_path.c_str());
    return 1;
  }

  // The exact index's dense top k per query: the reference for the approximate ones.
  const auto flat = rag::Index::open(exact);
  std::vector<std::set<int64_t>> truth;
  for (const auto& q : queries) {
    std::set<int64_t> ids;
    for (const auto& h : flat.search(q, {rag::SearchMode::Dense, k})) ids.insert(h.chunk.id);
    truth.push_back(std::move(ids));
  }
  std::vector<std::string> all = {exact};
  all.insert(all.end(), others.begin(), others.end());
  for (const auto& path : all) {
    const auto ix = rag::Index::open(path);
    const auto info = ix.info();
    for (const auto mode : {rag::SearchMode::Dense, rag::SearchMode::BM25, rag::SearchMode::Hybrid}) {
      if (path != exact && mode == rag::SearchMode::BM25) continue;  // BM25 does not depend on the vector index
      rag::SearchOptions o{mode, k};
      for (const auto& q : queries) ix.search(q, o);  // warm-up: caches, the embedder's first call
      std::vector<double> ms;
      double shared = 0, total = 0;
      for (size_t i = 0; i < queries.size(); ++i) {
        const auto t0 = std::chrono::steady_clock::now();
        const auto hits = ix.search(queries[i], o);
        ms.push_back(1e3 * std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
        if (mode != rag::SearchMode::Dense) continue;
        for (const auto& h : hits) shared += truth[i].count(h.chunk.id);
        total += static_cast<double>(truth[i].size());
      }
      double mean = 0;
      for (double x : ms) mean += x / static_cast<double>(ms.size());
      nlohmann::json j = {{"index", path}, {"type", info["index_type"]}, {"mode", rag::search_mode_name(mode)}, {"chunks", info["chunks"]},
                          {"queries", queries.size()}, {"threads", threads}, {"p50_ms", percentile(ms, 0.5)}, {"p99_ms", percentile(ms, 0.99)},
                          {"mean_ms", mean}};
      if (mode == rag::SearchMode::Dense) j["recall_at_k_vs_exact"] = total > 0 ? shared / total : 0.0;
      std::printf("%s\n", j.dump().c_str());
      std::fflush(stdout);
    }
  }
  return 0;
}
