#include "cornerstone/rag/vector_index.h"

#include <faiss/IndexFlat.h>
#include <faiss/IndexHNSW.h>
#include <faiss/IndexIDMap.h>
#include <faiss/IndexIVFFlat.h>
#include <faiss/impl/AuxIndexStructures.h>
#include <faiss/impl/FaissException.h>
#include <faiss/impl/IDSelector.h>
#include <faiss/index_io.h>

#include <algorithm>
#include <cmath>
#include <unordered_set>

#include "cornerstone/core/error.h"

namespace cornerstone::rag {

namespace {

constexpr int kHnswM = 32;
constexpr int kHnswEfConstruction = 80;
constexpr int kHnswEfSearch = 256;

faiss::IndexIDMap2* id_map(faiss::Index* index) { return dynamic_cast<faiss::IndexIDMap2*>(index); }

std::unique_ptr<faiss::Index> make_inner(int64_t dim, VectorIndexType type, int64_t n_train) {
  const auto d = static_cast<faiss::Index::idx_t>(dim);
  switch (type) {
    case VectorIndexType::Flat: return std::make_unique<faiss::IndexFlatIP>(d);
    case VectorIndexType::HNSW: {
      auto h = std::make_unique<faiss::IndexHNSWFlat>(static_cast<int>(d), kHnswM, faiss::METRIC_INNER_PRODUCT);
      h->hnsw.efConstruction = kHnswEfConstruction;
      h->hnsw.efSearch = kHnswEfSearch;
      return h;
    }
    case VectorIndexType::IVF: {
      // About 4 sqrt(N) cells, with at least 39 training points per cell (FAISS's rule of thumb).
      const int64_t nlist = std::max<int64_t>(1, std::min<int64_t>(static_cast<int64_t>(4 * std::sqrt(static_cast<double>(n_train))), n_train / 39));
      auto quantizer = new faiss::IndexFlatIP(d);
      auto ivf = std::make_unique<faiss::IndexIVFFlat>(quantizer, d, static_cast<size_t>(nlist), faiss::METRIC_INNER_PRODUCT);
      ivf->own_fields = true;
      ivf->nprobe = static_cast<size_t>(std::min<int64_t>(nlist, std::max<int64_t>(8, nlist / 8)));
      ivf->cp.verbose = false;
      return ivf;
    }
  }
  throw ValueError("unknown vector index type");
}

std::unique_ptr<faiss::Index> wrap(std::unique_ptr<faiss::Index> inner) {
  auto m = std::make_unique<faiss::IndexIDMap2>(inner.release());
  m->own_fields = true;
  return m;
}

}  // namespace

std::string vector_index_type_name(VectorIndexType t) {
  switch (t) {
    case VectorIndexType::Flat: return "flat";
    case VectorIndexType::HNSW: return "hnsw";
    case VectorIndexType::IVF: return "ivf";
  }
  return "?";
}

VectorIndexType vector_index_type_from_name(const std::string& name) {
  if (name == "flat") return VectorIndexType::Flat;
  if (name == "hnsw") return VectorIndexType::HNSW;
  if (name == "ivf") return VectorIndexType::IVF;
  throw ValueError("unknown index type '" + name + "' (expected flat, hnsw or ivf)");
}

VectorIndex::VectorIndex(int64_t dim, VectorIndexType type) : dim_(dim), type_(type) {
  if (dim <= 0) throw ValueError("vector index: dimension must be positive");
  if (type != VectorIndexType::IVF) index_ = wrap(make_inner(dim, type, 0));  // IVF waits for its training vectors
}

VectorIndex::VectorIndex(VectorIndex&&) noexcept = default;
VectorIndex& VectorIndex::operator=(VectorIndex&&) noexcept = default;
VectorIndex::~VectorIndex() = default;

VectorIndex VectorIndex::load(const std::string& path) {
  std::unique_ptr<faiss::Index> index;
  try {
    index.reset(faiss::read_index(path.c_str()));
  } catch (const faiss::FaissException& e) {
    throw FormatError(path + ": not a readable FAISS index (" + std::string(e.what()).substr(0, 200) + ")");
  }
  const auto* m = id_map(index.get());
  if (!m) throw FormatError(path + ": a FAISS index without chunk ids (not written by Cornerstone)");
  VectorIndexType type;
  if (dynamic_cast<const faiss::IndexHNSWFlat*>(m->index)) type = VectorIndexType::HNSW;
  else if (dynamic_cast<const faiss::IndexIVFFlat*>(m->index)) type = VectorIndexType::IVF;
  else if (dynamic_cast<const faiss::IndexFlatIP*>(m->index)) type = VectorIndexType::Flat;
  else throw FormatError(path + ": an unsupported FAISS index kind");
  if (auto* h = dynamic_cast<faiss::IndexHNSWFlat*>(m->index)) h->hnsw.efSearch = kHnswEfSearch;
  VectorIndex v(index->d, VectorIndexType::Flat);
  v.type_ = type;
  v.index_ = std::move(index);
  return v;
}

void VectorIndex::save(const std::string& path) const {
  // An IVF index that never saw a vector has nothing to save yet: an empty flat map stands in.
  const faiss::Index* to_write = index_.get();
  std::unique_ptr<faiss::Index> empty;
  if (!to_write) {
    empty = wrap(make_inner(dim_, VectorIndexType::Flat, 0));
    to_write = empty.get();
  }
  try {
    faiss::write_index(to_write, path.c_str());
  } catch (const faiss::FaissException& e) {
    throw IOError("cannot write " + path + ": " + e.what());
  }
}

void VectorIndex::add(const std::vector<int64_t>& ids, const std::vector<float>& vectors) {
  if (vectors.size() != ids.size() * static_cast<size_t>(dim_))
    throw ValueError("vector index: " + std::to_string(ids.size()) + " ids but " + std::to_string(vectors.size()) + " floats (dim " +
                     std::to_string(dim_) + ")");
  if (ids.empty()) return;
  if (!index_) {  // IVF: the first vectors train the cells
    index_ = wrap(make_inner(dim_, type_, static_cast<int64_t>(ids.size())));
    id_map(index_.get())->index->train(static_cast<faiss::Index::idx_t>(ids.size()), vectors.data());
  }
  std::vector<faiss::Index::idx_t> fids(ids.begin(), ids.end());
  index_->add_with_ids(static_cast<faiss::Index::idx_t>(ids.size()), vectors.data(), fids.data());
}

void VectorIndex::rebuild_without(const std::vector<int64_t>& removed) {
  const auto* m = id_map(index_.get());
  const std::unordered_set<int64_t> gone(removed.begin(), removed.end());
  std::vector<int64_t> keep_ids;
  std::vector<float> keep;
  std::vector<float> row(static_cast<size_t>(dim_));
  for (faiss::Index::idx_t id : m->id_map) {
    if (gone.count(id)) continue;
    m->reconstruct(id, row.data());
    keep_ids.push_back(id);
    keep.insert(keep.end(), row.begin(), row.end());
  }
  index_ = wrap(make_inner(dim_, type_, static_cast<int64_t>(keep_ids.size())));
  add(keep_ids, keep);
}

void VectorIndex::remove(const std::vector<int64_t>& ids) {
  if (ids.empty() || !index_) return;
  if (type_ == VectorIndexType::HNSW) return rebuild_without(ids);  // HNSW graphs cannot drop nodes
  std::vector<faiss::Index::idx_t> fids(ids.begin(), ids.end());
  faiss::IDSelectorBatch sel(fids.size(), fids.data());
  index_->remove_ids(sel);
}

std::vector<ScoredId> VectorIndex::search(const float* query, int64_t k) const {
  std::vector<ScoredId> out;
  if (!index_ || index_->ntotal == 0 || k <= 0) return out;
  k = std::min<int64_t>(k, index_->ntotal);
  std::vector<float> scores(static_cast<size_t>(k));
  std::vector<faiss::Index::idx_t> labels(static_cast<size_t>(k));
  index_->search(1, query, static_cast<faiss::Index::idx_t>(k), scores.data(), labels.data());
  for (int64_t i = 0; i < k; ++i)
    if (labels[static_cast<size_t>(i)] >= 0) out.push_back({labels[static_cast<size_t>(i)], scores[static_cast<size_t>(i)]});
  return out;
}

int64_t VectorIndex::size() const { return index_ ? index_->ntotal : 0; }

}  // namespace cornerstone::rag
