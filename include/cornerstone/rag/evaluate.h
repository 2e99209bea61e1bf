// Retrieval quality of an index on queries whose relevant documents are known:
//
//   {"query": "how are interrupts routed?", "relevant": ["core-api/genericirq.rst.gz", ...]}
//
// A relevant entry names a source by its indexed path or by the end of it (a file name, or
// "dir/file"). Passages are ranked by the search mode, then reduced to documents (a document's
// rank is its best passage's), and scored per query and averaged:
//
//   recall@k   share of the query's relevant documents in the top k (k = 1, 5, 10)
//   MRR@10     1 / rank of the first relevant document (0 beyond 10)
//   nDCG@10    sum over relevant documents in the top 10 of 1 / log2(rank + 1), divided by the
//              best possible sum for the query (binary relevance)
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cornerstone/rag/index.h"

namespace cornerstone::rag {

struct RetrievalQuery {
  std::string query;
  std::vector<std::string> relevant;
  int64_t line = 0;
};

// Reads the JSONL file; a bad line is a FormatError naming the file, line and field.
std::vector<RetrievalQuery> read_retrieval_queries(const std::string& path);

struct RetrievalScores {
  std::string mode;
  int64_t queries = 0;
  double recall_at_1 = 0, recall_at_5 = 0, recall_at_10 = 0, mrr_at_10 = 0, ndcg_at_10 = 0;
  double ms_per_query = 0;  // search time (embedding the query included), mean
  nlohmann::json to_json() const;
};

// The scores of one query's ranked document list.
RetrievalScores score_ranking(const std::vector<std::string>& ranked_sources, const std::vector<std::string>& relevant);

// Every query through `mode` (options.k is the number of documents ranked, at least 10).
RetrievalScores evaluate_retrieval(const Index& index, const std::vector<RetrievalQuery>& queries, SearchMode mode,
                                   const Reranker* rerank = nullptr);

// A table, one row per mode.
std::string retrieval_table(const std::vector<RetrievalScores>& rows);

}  // namespace cornerstone::rag
