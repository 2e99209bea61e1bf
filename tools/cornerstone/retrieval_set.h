// A retrieval benchmark from the Linux kernel documentation (Debian's linux-doc-6.1), whose
// relevant documents are known by construction (`cornerstone dataset linux-doc`):
//
//   OUT/corpus/<path>.rst   every English document (translations/ skipped), gunzipped, with its
//                           title removed: the title is the query, and must not give the answer away
//   OUT/queries.jsonl       {"query": "<title>", "relevant": ["<path>.rst"]} for a seeded sample of
//                           documents whose title is specific (3+ words, used by no other document)
//   OUT/train.jsonl         {"query": title, "positive": the opening of its document, "negative": the
//   OUT/val.jsonl           opening of another} for the documents not sampled as queries (to adapt
//                           an embedder: `finetune --task contrastive`, or a reranker: --task rerank)
#pragma once

#include <cstdint>
#include <string>

namespace cornerstone::data {

struct RetrievalSetOptions {
  uint64_t seed = 1234;
  int64_t queries = 300;      // documents held out as queries
  int64_t passage_words = 120;  // words of a document's opening in a training triple
  double val_fraction = 0.05;
};

struct RetrievalSetSummary {
  int64_t documents = 0, queries = 0, train = 0, val = 0;
};

// `source`: the Documentation folder (/usr/share/doc/linux-doc-6.1/Documentation).
RetrievalSetSummary make_linux_doc_set(const std::string& source, const std::string& out, const RetrievalSetOptions& options);

}  // namespace cornerstone::data
