#include "cornerstone/rag/index.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <unordered_map>

#include "cornerstone/adapt/task_model.h"
#include "cornerstone/core/error.h"
#include "cornerstone/core/progress.h"
#include "cornerstone/cornerstone.h"
#include "cornerstone/data/prepare.h"
#include "cornerstone/io/atomic_file.h"
#include "cornerstone/io/staged_folder.h"

namespace cornerstone::rag {

namespace fs = std::filesystem;

namespace {

constexpr const char* kFormat = "cornerstone-retrieval-index";
constexpr const char* kDocs = "docs.sqlite";
constexpr const char* kVectors = "vectors.faiss";
constexpr const char* kMeta = "index.json";

double now_s() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

std::string version_name(int64_t v) {
  char b[32];
  std::snprintf(b, sizeof b, "v%08lld", static_cast<long long>(v));
  return b;
}

int64_t version_number(const std::string& name) {
  if (name.size() != 9 || name[0] != 'v' || name.find_first_not_of("0123456789", 1) != std::string::npos) return -1;
  return std::stoll(name.substr(1));
}

void fsync_path(const fs::path& p, bool directory) {
  const int fd = ::open(p.c_str(), directory ? (O_RDONLY | O_DIRECTORY) : O_RDONLY);
  if (fd < 0) throw IOError("cannot open " + p.string() + " to sync it");
  const int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) throw IOError("cannot sync " + p.string());
}

// The version CURRENT names; FormatError / IOError when DIR is not an index.
std::string current_version(const std::string& dir) {
  if (!fs::is_directory(dir)) throw IOError("index '" + dir + "' does not exist (build one with `cornerstone index build`)");
  const fs::path cur = fs::path(dir) / "CURRENT";
  if (!fs::exists(cur)) throw FormatError("'" + dir + "' is not a retrieval index (no CURRENT file)");
  std::string v = io::read_file(cur.string());
  while (!v.empty() && (v.back() == '\n' || v.back() == '\r' || v.back() == ' ')) v.pop_back();
  if (version_number(v) < 0) throw FormatError(cur.string() + ": expected a version name like v00000001, got '" + v.substr(0, 40) + "'");
  if (!fs::is_directory(fs::path(dir) / v)) throw FormatError(cur.string() + " names " + v + ", which is missing");
  return v;
}

nlohmann::json read_meta(const fs::path& version_dir) {
  const fs::path p = version_dir / kMeta;
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(io::read_file(p.string()));
  } catch (const nlohmann::json::exception& e) {
    throw FormatError(p.string() + ": not valid JSON (" + std::string(e.what()) + ")");
  }
  if (!j.is_object() || j.value("format", "") != kFormat) throw FormatError(p.string() + ": not a Cornerstone retrieval index");
  for (const char* key : {"embed_model", "pooling", "index_type"})
    if (!j.contains(key) || !j[key].is_string()) throw FormatError(p.string() + ": '" + key + "' must be a string");
  for (const char* key : {"dim", "chunk_tokens", "overlap"})
    if (!j.contains(key) || !j[key].is_number_integer() || j[key].get<int64_t>() < 0) throw FormatError(p.string() + ": '" + key + "' must be a non-negative integer");
  return j;
}

// Holds an exclusive lock on DIR/LOCK: one writer at a time.
class WriterLock {
 public:
  explicit WriterLock(const std::string& dir) {
    const std::string p = (fs::path(dir) / "LOCK").string();
    fd_ = ::open(p.c_str(), O_RDWR | O_CREAT, 0644);
    if (fd_ < 0) throw IOError("cannot open " + p);
    if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
      ::close(fd_);
      throw IOError("index '" + dir + "' is being updated by another job (" + p + " is locked)");
    }
  }
  ~WriterLock() {
    ::flock(fd_, LOCK_UN);
    ::close(fd_);
  }

 private:
  int fd_ = -1;
};

bool has_extension(const std::string& name, const std::vector<std::string>& exts) {
  std::string n = name;
  if (n.size() > 3 && n.compare(n.size() - 3, 3, ".gz") == 0) n.resize(n.size() - 3);
  for (const auto& e : exts)
    if (n.size() >= e.size() && n.compare(n.size() - e.size(), e.size(), e) == 0) return true;
  return false;
}

std::string source_key(const fs::path& p) { return fs::absolute(p).lexically_normal().string(); }

// The files of the inputs (data::expand_inputs: folders walked, hidden files skipped, patterns
// expanded), those inside folders only with an indexed extension, as absolute paths.
std::vector<std::string> collect_files(const std::vector<std::string>& inputs, const std::vector<std::string>& exts) {
  std::vector<std::string> out;
  for (const auto& f : data::expand_inputs(inputs, [&](const std::string& name) { return has_extension(name, exts); }))
    out.push_back(source_key(f));
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

struct Embedder {
  std::shared_ptr<Model> model;
  adapt::Pooling pooling;
  int64_t dim;
};

Embedder open_embedder(const std::string& path, int64_t chunk_tokens) {
  auto m = std::make_shared<Model>(load(path));
  if (!m->can(Capability::Embeddings)) throw ValueError("'" + path + "' cannot embed text (" + m->describe() + ")");
  if (chunk_tokens + 2 > m->context())
    throw ValueError("--chunk-tokens " + std::to_string(chunk_tokens) + " does not fit the embedding model's " +
                     std::to_string(m->context()) + "-token context (with its special tokens)");
  const Tensor probe = m->embed({"probe"}, std::nullopt, true);
  return {m, m->default_pooling(), probe.size(1)};
}

std::vector<float> embed_rows(const Model& m, adapt::Pooling pooling, const std::vector<std::string>& texts, int64_t batch) {
  const Tensor v = m.embed(texts, pooling, /*normalize=*/true, batch);
  const float* p = v.data<float>();
  return std::vector<float>(p, p + v.numel());
}

// Chunks and embeds the files into the store and the vector index (replacing sources already
// there). Returns what it did.
IndexReport ingest(DocumentStore& store, VectorIndex& vectors, const Embedder& e, const std::vector<std::string>& files,
                   const ChunkOptions& chunking, int64_t batch, bool progress) {
  IndexReport r;
  std::vector<int64_t> removed, ids;
  std::vector<std::string> texts;
  store.begin();
  {
    Progress bar("chunk", static_cast<int64_t>(files.size()), "file");
    int64_t done = 0;
    for (const auto& f : files) {
      const std::string text = data::read_text(f);
      auto gone = store.remove_source(f);
      removed.insert(removed.end(), gone.begin(), gone.end());
      const auto chunks = chunk_text(text, e.model->tokenizer(), chunking);
      if (chunks.empty()) {
        ++r.skipped;
      } else {
        const int64_t sid = store.add_source(f, static_cast<int64_t>(text.size()));
        for (size_t i = 0; i < chunks.size(); ++i) {
          ids.push_back(store.add_chunk(sid, static_cast<int64_t>(i), chunks[i].begin, chunks[i].end, chunks[i].text));
          texts.push_back(chunks[i].text);
        }
        ++r.files;
      }
      if (progress) bar.update(++done, std::to_string(ids.size()) + " chunks");
    }
    if (progress) bar.finish(std::to_string(ids.size()) + " chunks");
  }
  std::vector<float> rows;
  rows.reserve(ids.size() * static_cast<size_t>(e.dim));
  {
    Progress bar("embed", static_cast<int64_t>(texts.size()), "chunk");
    const size_t group = static_cast<size_t>(std::max<int64_t>(1, batch)) * 8;
    for (size_t s = 0; s < texts.size(); s += group) {
      const size_t end = std::min(texts.size(), s + group);
      const auto v = embed_rows(*e.model, e.pooling, std::vector<std::string>(texts.begin() + static_cast<long>(s), texts.begin() + static_cast<long>(end)), batch);
      rows.insert(rows.end(), v.begin(), v.end());
      if (progress) bar.update(static_cast<int64_t>(end));
    }
    if (progress && !texts.empty()) bar.finish();
  }
  vectors.remove(removed);
  vectors.add(ids, rows);
  store.commit();
  r.chunks = static_cast<int64_t>(ids.size());
  r.removed = static_cast<int64_t>(removed.size());
  return r;
}

nlohmann::json meta_with_counts(nlohmann::json meta, const DocumentStore& store, const VectorIndex& vectors) {
  meta["sources"] = static_cast<int64_t>(store.sources().size());
  meta["chunks"] = store.chunk_count();
  if (vectors.size() != store.chunk_count())
    throw FormatError("internal: " + std::to_string(vectors.size()) + " vectors for " + std::to_string(store.chunk_count()) + " chunks");
  return meta;
}

void write_version_files(const fs::path& vdir, const nlohmann::json& meta, const VectorIndex& vectors) {
  vectors.save((vdir / kVectors).string());
  io::write_file_atomic((vdir / kMeta).string(), meta.dump(2) + "\n");
  for (const char* f : {kDocs, kVectors, kMeta}) fsync_path(vdir / f, false);
  fsync_path(vdir, true);
}

// Removes versions other than `keep` (current and previous) and unfinished ones.
void remove_stale(const fs::path& dir, const std::vector<std::string>& keep) {
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (!e.is_directory() || name.empty() || name[0] != 'v') continue;
    if (std::find(keep.begin(), keep.end(), name) != keep.end()) continue;
    std::error_code ec;
    fs::remove_all(e.path(), ec);
  }
}

// Writes the next version of DIR by `change(store, vectors)` on a copy of the current one.
template <typename Change>
IndexReport update(const std::string& dir, Change change) {
  WriterLock lock(dir);
  const std::string cur = current_version(dir);
  const fs::path base(dir), cur_dir = base / cur;
  const std::string next = version_name(version_number(cur) + 1);
  remove_stale(base, {cur, version_name(version_number(cur) - 1)});  // what a killed writer left
  const fs::path tmp = base / (next + ".tmp");
  fs::create_directories(tmp);
  fs::copy_file(cur_dir / kDocs, tmp / kDocs);
  nlohmann::json meta = read_meta(cur_dir);
  IndexReport r;
  try {
    DocumentStore store = DocumentStore::open((tmp / kDocs).string(), /*writable=*/true);
    VectorIndex vectors = VectorIndex::load((cur_dir / kVectors).string());
    r = change(store, vectors, meta);
    meta = meta_with_counts(meta, store, vectors);
    write_version_files(tmp, meta, vectors);
  } catch (...) {
    std::error_code ec;
    fs::remove_all(tmp, ec);  // the current version is untouched
    throw;
  }
  fs::rename(tmp, base / next);
  fsync_path(base, true);
  io::write_file_atomic((base / "CURRENT").string(), next + "\n");  // the switch
  remove_stale(base, {next, cur});
  return r;
}

}  // namespace

std::string search_mode_name(SearchMode m) {
  switch (m) {
    case SearchMode::Dense: return "dense";
    case SearchMode::BM25: return "bm25";
    case SearchMode::Hybrid: return "hybrid";
  }
  return "?";
}

SearchMode search_mode_from_name(const std::string& name) {
  if (name == "dense") return SearchMode::Dense;
  if (name == "bm25") return SearchMode::BM25;
  if (name == "hybrid") return SearchMode::Hybrid;
  throw ValueError("unknown search mode '" + name + "' (expected dense, bm25 or hybrid)");
}

nlohmann::json hit_json(const SearchHit& h, int64_t rank) {
  return {{"rank", rank},           {"score", h.score},       {"source", h.chunk.source}, {"chunk", h.chunk.id},
          {"begin", h.chunk.begin}, {"end", h.chunk.end},     {"dense_rank", h.dense_rank},
          {"bm25_rank", h.bm25_rank}, {"text", h.chunk.text}};
}

std::vector<ScoredId> reciprocal_rank_fusion(const std::vector<std::vector<ScoredId>>& lists, int64_t k) {
  constexpr double kRrf = 60;
  std::unordered_map<int64_t, double> score;
  std::vector<int64_t> order;  // first appearance, for a stable tie order
  for (const auto& l : lists)
    for (size_t r = 0; r < l.size(); ++r) {
      auto [it, fresh] = score.emplace(l[r].id, 0.0);
      if (fresh) order.push_back(l[r].id);
      it->second += 1.0 / (kRrf + static_cast<double>(r + 1));
    }
  std::vector<ScoredId> out;
  for (int64_t id : order) out.push_back({id, score[id]});
  std::stable_sort(out.begin(), out.end(), [](const ScoredId& a, const ScoredId& b) { return a.score > b.score; });
  if (static_cast<int64_t>(out.size()) > k) out.resize(static_cast<size_t>(k));
  return out;
}

IndexReport Index::build(const std::string& out, const std::vector<std::string>& inputs, const IndexOptions& o) {
  const double t0 = now_s();
  if (inputs.empty()) throw ValueError("index build: no --input given");
  const auto files = collect_files(inputs, o.extensions);
  io::StagedFolder staged(out);  // refuses an existing non-empty OUT before any work
  const Embedder e = open_embedder(o.embed_model, o.chunk.tokens);
  const fs::path vdir = fs::path(staged.path()) / version_name(1);
  fs::create_directories(vdir);
  DocumentStore store = DocumentStore::create((vdir / kDocs).string());
  VectorIndex vectors(e.dim, o.type);
  IndexReport r = ingest(store, vectors, e, files, o.chunk, o.batch, o.progress);
  if (r.chunks == 0) throw ValueError("index build: the inputs hold no text (" + std::to_string(files.size()) + " empty files)");
  nlohmann::json ext = o.extensions;
  nlohmann::json meta = {{"format", kFormat},
                         {"version", 1},
                         {"embed_model", fs::absolute(o.embed_model).lexically_normal().string()},
                         {"embed_model_type", e.model->model_type()},
                         {"pooling", adapt::pooling_name(e.pooling)},
                         {"dim", e.dim},
                         {"chunk_tokens", o.chunk.tokens},
                         {"overlap", o.chunk.overlap},
                         {"separator", o.chunk.separator},
                         {"index_type", vector_index_type_name(o.type)},
                         {"extensions", ext},
                         {"built_with", std::string("cornerstone ") + CORNERSTONE_VERSION}};
  meta = meta_with_counts(meta, store, vectors);
  write_version_files(vdir, meta, vectors);
  io::write_file_atomic((fs::path(staged.path()) / "CURRENT").string(), version_name(1) + "\n");
  staged.commit();
  r.seconds = now_s() - t0;
  return r;
}

IndexReport Index::add(const std::string& dir, const std::vector<std::string>& inputs, bool progress) {
  const double t0 = now_s();
  if (inputs.empty()) throw ValueError("index add: no --input given");
  IndexReport r = update(dir, [&](DocumentStore& store, VectorIndex& vectors, nlohmann::json& meta) {
    std::vector<std::string> exts;
    for (const auto& x : meta.value("extensions", nlohmann::json::array())) exts.push_back(x.get<std::string>());
    if (exts.empty()) exts = IndexOptions{}.extensions;
    const auto files = collect_files(inputs, exts);
    const Embedder e = open_embedder(meta["embed_model"].get<std::string>(), meta["chunk_tokens"].get<int64_t>());
    if (e.dim != meta["dim"].get<int64_t>())
      throw FormatError("the embedding model now makes " + std::to_string(e.dim) + "-float vectors; the index holds " + meta["dim"].dump());
    ChunkOptions c{meta["chunk_tokens"].get<int64_t>(), meta["overlap"].get<int64_t>(), meta.value("separator", std::string())};
    return ingest(store, vectors, e, files, c, 32, progress);
  });
  r.seconds = now_s() - t0;
  return r;
}

IndexReport Index::remove(const std::string& dir, const std::vector<std::string>& paths) {
  const double t0 = now_s();
  if (paths.empty()) throw ValueError("index remove: no path given");
  IndexReport r = update(dir, [&](DocumentStore& store, VectorIndex& vectors, nlohmann::json&) {
    IndexReport rr;
    std::vector<int64_t> removed;
    const auto sources = store.sources();
    store.begin();
    for (const auto& p : paths) {
      const std::string key = source_key(p);
      bool any = false;
      for (const auto& s : sources) {
        const bool under = s.path == key || (s.path.size() > key.size() && s.path.compare(0, key.size(), key) == 0 && s.path[key.size()] == '/');
        if (!under) continue;
        auto gone = store.remove_source(s.path);
        removed.insert(removed.end(), gone.begin(), gone.end());
        ++rr.files;
        any = true;
      }
      if (!any) throw ValueError("index remove: '" + p + "' is not in the index (see `cornerstone index info --sources`)");
    }
    vectors.remove(removed);
    store.commit();
    rr.removed = static_cast<int64_t>(removed.size());
    return rr;
  });
  r.seconds = now_s() - t0;
  return r;
}

Index Index::open(const std::string& dir, const std::string& embed_model) {
  Index ix;
  ix.dir_ = dir;
  const std::string v = current_version(dir);
  ix.version_dir_ = (fs::path(dir) / v).string();
  ix.meta_ = read_meta(ix.version_dir_);
  ix.store_ = std::make_shared<DocumentStore>(DocumentStore::open((fs::path(ix.version_dir_) / kDocs).string(), false));
  ix.vectors_ = std::make_shared<VectorIndex>(VectorIndex::load((fs::path(ix.version_dir_) / kVectors).string()));
  const int64_t chunks = ix.store_->chunk_count();
  if (ix.vectors_->size() != chunks)
    throw FormatError("index '" + dir + "' is damaged: " + std::to_string(ix.vectors_->size()) + " vectors for " + std::to_string(chunks) + " chunks");
  if (ix.vectors_->dim() != ix.meta_["dim"].get<int64_t>())
    throw FormatError("index '" + dir + "' is damaged: " + std::to_string(ix.vectors_->dim()) + "-float vectors, index.json says " + ix.meta_["dim"].dump());
  ix.embed_model_ = embed_model.empty() ? ix.meta_["embed_model"].get<std::string>() : embed_model;
  return ix;
}

nlohmann::json Index::info() const {
  nlohmann::json j = meta_;
  j["path"] = dir_;
  j["current"] = fs::path(version_dir_).filename().string();
  j["sources"] = static_cast<int64_t>(store_->sources().size());
  j["chunks"] = store_->chunk_count();
  j["vectors"] = vectors_->size();
  return j;
}

std::vector<SearchHit> Index::search(const std::string& query, const SearchOptions& o) const {
  if (query.find_first_not_of(" \t\r\n") == std::string::npos) throw ValueError("search: the query is empty");
  if (o.k <= 0) throw ValueError("search: k must be positive");
  const int64_t cand = o.candidates > 0 ? o.candidates : std::max<int64_t>(50, 4 * o.k);
  std::vector<ScoredId> dense, bm25;
  if (o.mode != SearchMode::BM25) {
    if (!embedder_) {
      auto m = std::make_shared<Model>(load(embed_model_));
      if (!m->can(Capability::Embeddings)) throw ValueError("'" + embed_model_ + "' cannot embed text (" + m->describe() + ")");
      embedder_ = m;
    }
    const auto q = embed_rows(*embedder_, adapt::pooling_from_name(meta_["pooling"].get<std::string>()), {query}, 1);
    if (static_cast<int64_t>(q.size()) != vectors_->dim())
      throw ValueError("the query model '" + embed_model_ + "' makes " + std::to_string(q.size()) + "-float vectors; the index holds " +
                       std::to_string(vectors_->dim()));
    dense = vectors_->search(q.data(), cand);
  }
  if (o.mode != SearchMode::Dense) bm25 = store_->bm25(query, cand);
  std::vector<ScoredId> fused = o.mode == SearchMode::Dense ? dense : o.mode == SearchMode::BM25 ? bm25 : reciprocal_rank_fusion({dense, bm25}, cand);
  std::unordered_map<int64_t, int64_t> dense_rank, bm25_rank;
  for (size_t i = 0; i < dense.size(); ++i) dense_rank[dense[i].id] = static_cast<int64_t>(i + 1);
  for (size_t i = 0; i < bm25.size(); ++i) bm25_rank[bm25[i].id] = static_cast<int64_t>(i + 1);
  std::vector<SearchHit> hits;
  const size_t keep = o.rerank ? fused.size() : std::min(fused.size(), static_cast<size_t>(o.k));
  for (size_t i = 0; i < keep; ++i) {
    SearchHit h;
    h.chunk = store_->chunk(fused[i].id);
    h.score = fused[i].score;
    h.dense_rank = dense_rank.count(fused[i].id) ? dense_rank[fused[i].id] : 0;
    h.bm25_rank = bm25_rank.count(fused[i].id) ? bm25_rank[fused[i].id] : 0;
    hits.push_back(std::move(h));
  }
  if (o.rerank && !hits.empty()) {
    std::vector<std::string> passages;
    for (const auto& h : hits) passages.push_back(h.chunk.text);
    const auto s = o.rerank->score(query, passages);
    for (size_t i = 0; i < hits.size(); ++i) hits[i].score = s[i];
    std::stable_sort(hits.begin(), hits.end(), [](const SearchHit& a, const SearchHit& b) { return a.score > b.score; });
    if (static_cast<int64_t>(hits.size()) > o.k) hits.resize(static_cast<size_t>(o.k));
  }
  return hits;
}

}  // namespace cornerstone::rag
