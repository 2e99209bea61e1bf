// The passages of a retrieval index and their sources, in one SQLite database with an FTS5
// full-text table that ranks passages by BM25 (SQLite's bm25(), k1 = 1.2, b = 0.75).
//
//   sources(id, path UNIQUE, bytes, chunks)
//   chunks(id AUTOINCREMENT, source, seq, begin, end)      ids are never reused, so they can
//                                                          name vectors in the FAISS index
//   passages(text) USING fts5, rowid = chunks.id            porter stemming, unicode61 tokens
//
// Every failure is an IOError / FormatError naming the database file and SQLite's reason.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

struct sqlite3;

namespace cornerstone::rag {

struct StoredChunk {
  int64_t id = 0;
  std::string source;  // the document's path as indexed
  int64_t seq = 0;     // the chunk's position in its document
  int64_t begin = 0, end = 0;
  std::string text;
};

struct SourceInfo {
  int64_t id = 0;
  std::string path;
  int64_t bytes = 0, chunks = 0;
};

struct ScoredId {
  int64_t id;
  double score;  // higher is better
};

class DocumentStore {
 public:
  // Creates a new database at `path` (which must not exist) or opens an existing one.
  static DocumentStore create(const std::string& path);
  static DocumentStore open(const std::string& path, bool writable);
  DocumentStore(DocumentStore&&) noexcept;
  DocumentStore& operator=(DocumentStore&&) noexcept;
  ~DocumentStore();

  // Groups writes into one transaction (much faster, and all-or-nothing).
  void begin();
  void commit();

  std::optional<int64_t> source_id(const std::string& path) const;
  int64_t add_source(const std::string& path, int64_t bytes);
  int64_t add_chunk(int64_t source, int64_t seq, int64_t begin, int64_t end, const std::string& text);
  // Removes a source and its chunks; returns the removed chunk ids (empty when unknown).
  std::vector<int64_t> remove_source(const std::string& path);

  std::vector<SourceInfo> sources() const;
  int64_t chunk_count() const;
  std::vector<int64_t> chunk_ids() const;
  // Throws FormatError when the id is not in the store.
  StoredChunk chunk(int64_t id) const;
  bool has_chunk(int64_t id) const;
  // The k best passages for a free-text query by BM25 (the query's words, any of them, stemmed);
  // empty when the query has no words.
  std::vector<ScoredId> bm25(const std::string& query, int64_t k) const;

  const std::string& path() const { return path_; }

 private:
  DocumentStore(sqlite3* db, std::string path);
  void exec(const std::string& sql) const;
  sqlite3* db_ = nullptr;
  std::string path_;
};

// The words of a free-text query as an FTS5 expression: each distinct word (ignoring case) quoted,
// joined by OR ("" when none).
std::string fts_query(const std::string& text);

}  // namespace cornerstone::rag
