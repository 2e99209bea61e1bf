// Dense vectors of a retrieval index in FAISS, searched by inner product (the vectors are unit
// length, so the score is the cosine similarity). Three kinds, chosen at build time:
//
//   flat   exact search over every vector (IndexFlatIP)
//   hnsw   a navigable small-world graph (IndexHNSWFlat, M = 32, efSearch = 128): approximate,
//          fast on large indexes; removing vectors rebuilds the graph from the stored vectors
//   ivf    inverted lists over k-means cells (IndexIVFFlat, trained on the vectors of the first
//          build; nlist ~ 4 sqrt(N) with >= 39 training vectors per cell, nprobe = max(8, nlist / 8))
//
// Each vector carries the id of its chunk in the document store (IndexIDMap2).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "cornerstone/rag/document_store.h"

namespace faiss {
struct Index;
}

namespace cornerstone::rag {

enum class VectorIndexType { Flat, HNSW, IVF };
std::string vector_index_type_name(VectorIndexType t);
VectorIndexType vector_index_type_from_name(const std::string& name);  // ValueError listing the kinds

class VectorIndex {
 public:
  // An empty index for vectors of `dim` floats. IVF is trained by the first add().
  VectorIndex(int64_t dim, VectorIndexType type);
  // Throws FormatError naming the file when it is not a FAISS index this code wrote.
  static VectorIndex load(const std::string& path);
  void save(const std::string& path) const;
  VectorIndex(VectorIndex&&) noexcept;
  VectorIndex& operator=(VectorIndex&&) noexcept;
  ~VectorIndex();

  // `vectors`: ids.size() rows of dim() floats, row-major.
  void add(const std::vector<int64_t>& ids, const std::vector<float>& vectors);
  void remove(const std::vector<int64_t>& ids);
  // The k nearest (highest inner product) of one query vector.
  std::vector<ScoredId> search(const float* query, int64_t k) const;

  int64_t size() const;
  int64_t dim() const { return dim_; }
  VectorIndexType type() const { return type_; }

 private:
  void rebuild_without(const std::vector<int64_t>& removed);
  int64_t dim_;
  VectorIndexType type_;
  std::unique_ptr<faiss::Index> index_;
};

}  // namespace cornerstone::rag
