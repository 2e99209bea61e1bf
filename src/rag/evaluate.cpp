#include "cornerstone/rag/evaluate.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>

#include "cornerstone/core/error.h"

namespace cornerstone::rag {

namespace {

// True when the indexed path `source` is the relevant entry `rel` or ends with "/" + rel.
bool names(const std::string& source, const std::string& rel) {
  if (source == rel) return true;
  return source.size() > rel.size() && source.compare(source.size() - rel.size(), rel.size(), rel) == 0 &&
         source[source.size() - rel.size() - 1] == '/';
}

}  // namespace

std::vector<RetrievalQuery> read_retrieval_queries(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw IOError("cannot read '" + path + "'");
  std::vector<RetrievalQuery> out;
  int64_t n = 0;
  for (std::string line; std::getline(in, line);) {
    ++n;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string at = path + ":" + std::to_string(n);
    const auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object()) throw FormatError(at + ": not a JSON object");
    RetrievalQuery q;
    q.line = n;
    if (!j.contains("query") || !j["query"].is_string() || j["query"].get<std::string>().empty())
      throw FormatError(at + ": \"query\" must be a non-empty string");
    q.query = j["query"];
    if (!j.contains("relevant") || !j["relevant"].is_array() || j["relevant"].empty())
      throw FormatError(at + ": \"relevant\" must be a non-empty list of source paths");
    for (const auto& r : j["relevant"]) {
      if (!r.is_string() || r.get<std::string>().empty()) throw FormatError(at + ": \"relevant\" entries must be non-empty strings");
      q.relevant.push_back(r);
    }
    out.push_back(std::move(q));
  }
  if (out.empty()) throw ValueError("'" + path + "' has no queries");
  return out;
}

RetrievalScores score_ranking(const std::vector<std::string>& ranked, const std::vector<std::string>& relevant) {
  RetrievalScores s;
  s.queries = 1;
  std::vector<bool> found(relevant.size(), false);
  double dcg = 0;
  auto hits_within = [&](size_t k) {
    size_t n = 0;
    std::vector<bool> seen(relevant.size(), false);
    for (size_t i = 0; i < std::min(k, ranked.size()); ++i)
      for (size_t r = 0; r < relevant.size(); ++r)
        if (!seen[r] && names(ranked[i], relevant[r])) seen[r] = true, ++n;
    return static_cast<double>(n) / static_cast<double>(relevant.size());
  };
  s.recall_at_1 = hits_within(1), s.recall_at_5 = hits_within(5), s.recall_at_10 = hits_within(10);
  for (size_t i = 0; i < std::min<size_t>(10, ranked.size()); ++i) {
    bool rel = false;
    for (size_t r = 0; r < relevant.size(); ++r)
      if (!found[r] && names(ranked[i], relevant[r])) found[r] = true, rel = true;
    if (!rel) continue;
    if (s.mrr_at_10 == 0) s.mrr_at_10 = 1.0 / static_cast<double>(i + 1);
    dcg += 1.0 / std::log2(static_cast<double>(i + 2));
  }
  double ideal = 0;
  for (size_t i = 0; i < std::min<size_t>(10, relevant.size()); ++i) ideal += 1.0 / std::log2(static_cast<double>(i + 2));
  s.ndcg_at_10 = dcg / ideal;
  return s;
}

RetrievalScores evaluate_retrieval(const Index& index, const std::vector<RetrievalQuery>& queries, SearchMode mode, const Reranker* rerank) {
  RetrievalScores total;
  total.mode = search_mode_name(mode) + (rerank ? "+rerank" : "");
  double seconds = 0;
  for (const auto& q : queries) {
    SearchOptions o;
    o.mode = mode;
    o.k = 50;  // passages; enough to fill 10 distinct documents in practice
    o.rerank = rerank;
    const auto t0 = std::chrono::steady_clock::now();
    const auto hits = index.search(q.query, o);
    seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::vector<std::string> docs;
    for (const auto& h : hits)
      if (std::find(docs.begin(), docs.end(), h.chunk.source) == docs.end()) docs.push_back(h.chunk.source);
    const RetrievalScores s = score_ranking(docs, q.relevant);
    total.recall_at_1 += s.recall_at_1, total.recall_at_5 += s.recall_at_5, total.recall_at_10 += s.recall_at_10;
    total.mrr_at_10 += s.mrr_at_10, total.ndcg_at_10 += s.ndcg_at_10;
  }
  const double n = static_cast<double>(queries.size());
  total.queries = static_cast<int64_t>(queries.size());
  total.recall_at_1 /= n, total.recall_at_5 /= n, total.recall_at_10 /= n, total.mrr_at_10 /= n, total.ndcg_at_10 /= n;
  total.ms_per_query = 1e3 * seconds / n;
  return total;
}

nlohmann::json RetrievalScores::to_json() const {
  return {{"mode", mode},           {"queries", queries},       {"recall@1", recall_at_1}, {"recall@5", recall_at_5},
          {"recall@10", recall_at_10}, {"mrr@10", mrr_at_10}, {"ndcg@10", ndcg_at_10},  {"ms_per_query", ms_per_query}};
}

std::string retrieval_table(const std::vector<RetrievalScores>& rows) {
  std::string t = "mode              queries  recall@1  recall@5  recall@10  MRR@10  nDCG@10  ms/query\n";
  char line[200];
  for (const auto& r : rows) {
    std::snprintf(line, sizeof line, "%-16s  %7lld  %8.4f  %8.4f  %9.4f  %6.4f  %7.4f  %8.2f\n", r.mode.c_str(), static_cast<long long>(r.queries),
                  r.recall_at_1, r.recall_at_5, r.recall_at_10, r.mrr_at_10, r.ndcg_at_10, r.ms_per_query);
    t += line;
  }
  return t;
}

}  // namespace cornerstone::rag
