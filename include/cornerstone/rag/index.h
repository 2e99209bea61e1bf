// A retrieval index: text files split into passages (rag/chunker.h), the passages embedded by an
// encoder / embedding model (anything cornerstone::load() opens that can embed) into a FAISS
// index (rag/vector_index.h) and stored with their sources in SQLite with FTS5 for BM25
// (rag/document_store.h). Searched densely, by BM25, or both fused by reciprocal rank.
//
// One folder, versioned so that a reader never sees a half-written index:
//
//   idx/CURRENT                 "v00000002": the version readers open (replaced atomically)
//   idx/v00000002/index.json    what built it: embedding model, pooling, dimensions, chunking, kind
//   idx/v00000002/docs.sqlite   sources, chunks, FTS5 passages
//   idx/v00000002/vectors.faiss the chunks' vectors, by chunk id
//
// `build` writes a new folder staged beside its destination; `add` / `remove` write the next
// version beside the current one (a copy, then the change), fsync it, and only then point CURRENT
// at it. A job killed at any moment leaves the previous version in use; the next writer removes
// what it left. The version before the current one is kept for readers that opened it.
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "cornerstone/rag/chunker.h"
#include "cornerstone/rag/document_store.h"
#include "cornerstone/rag/vector_index.h"

namespace cornerstone {
class Model;
}

namespace cornerstone::rag {

struct IndexOptions {
  std::string embed_model;                           // folder (or file) load() opens; must embed
  ChunkOptions chunk;                                 // tokens of the embedding model's tokenizer
  VectorIndexType type = VectorIndexType::Flat;
  // Files inside input folders are indexed when their name ends with one of these (and optionally
  // .gz); files named directly are always indexed.
  std::vector<std::string> extensions = {".txt", ".md", ".rst", ".text", ".markdown"};
  int64_t batch = 32;     // passages per embedding batch
  bool progress = true;   // a progress line on stderr
};

struct IndexReport {
  int64_t files = 0;     // sources added (or replaced)
  int64_t chunks = 0;    // chunks added
  int64_t removed = 0;   // chunks removed (replaced or removed sources)
  int64_t skipped = 0;   // files without any text
  double seconds = 0;
  double chunks_per_second() const { return seconds > 0 ? static_cast<double>(chunks) / seconds : 0; }
};

enum class SearchMode { Dense, BM25, Hybrid };
std::string search_mode_name(SearchMode m);
SearchMode search_mode_from_name(const std::string& name);  // ValueError listing the modes

// Scores query / passage pairs with a cross-encoder; higher is more relevant.
class Reranker {
 public:
  virtual ~Reranker() = default;
  virtual std::vector<double> score(const std::string& query, const std::vector<std::string>& passages) const = 0;
};

struct SearchOptions {
  SearchMode mode = SearchMode::Hybrid;
  int64_t k = 10;
  int64_t candidates = 0;           // per list before fusion / reranking (0: max(50, 4k))
  const Reranker* rerank = nullptr;  // rescores the fused candidates
};

struct SearchHit {
  StoredChunk chunk;
  double score = 0;        // the mode's score (cosine, BM25, fused RRF, or the reranker's)
  int64_t dense_rank = 0;  // 1-based rank in the dense list (0: not in it)
  int64_t bm25_rank = 0;   // 1-based rank in the BM25 list (0: not in it)
};

// One hit as JSON, as `search --json`, `ask --json` and the server's /v1/search print it:
// rank (1-based), score, source, chunk (id), begin, end, dense_rank, bm25_rank, text.
nlohmann::json hit_json(const SearchHit& hit, int64_t rank);

// Reciprocal rank fusion (Cormack et al. 2009): score(d) = sum over lists of 1 / (60 + rank).
std::vector<ScoredId> reciprocal_rank_fusion(const std::vector<std::vector<ScoredId>>& lists, int64_t k);

class Index {
 public:
  // Builds a new index folder OUT (refused when it exists and is not empty; nothing is left on
  // failure). ValueError for an empty corpus or a model that cannot embed.
  static IndexReport build(const std::string& out, const std::vector<std::string>& inputs, const IndexOptions& options);
  // Adds the files of `inputs` to the index at DIR (a file already indexed is replaced).
  static IndexReport add(const std::string& dir, const std::vector<std::string>& inputs, bool progress = true);
  // Removes sources (paths as given to build / add, or under a removed folder).
  static IndexReport remove(const std::string& dir, const std::vector<std::string>& paths);

  // Opens the current version. FormatError / IOError naming what is missing or damaged.
  // `embed_model`: a model to embed queries with instead of the one that built the index (it
  // must produce vectors of the same size).
  static Index open(const std::string& dir, const std::string& embed_model = "");

  std::vector<SearchHit> search(const std::string& query, const SearchOptions& options) const;
  // What index.json says, with the live counts.
  nlohmann::json info() const;
  const DocumentStore& store() const { return *store_; }
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_, version_dir_;
  nlohmann::json meta_;
  std::shared_ptr<DocumentStore> store_;
  std::shared_ptr<VectorIndex> vectors_;
  std::string embed_model_;
  mutable std::shared_ptr<Model> embedder_;  // loaded on the first dense query
};

}  // namespace cornerstone::rag
