#include "cornerstone/rag/document_store.h"

#include <sqlite3.h>

#include <cctype>
#include <filesystem>
#include <set>
#include <utility>

#include "cornerstone/core/error.h"

namespace cornerstone::rag {

namespace fs = std::filesystem;

namespace {

// One prepared statement, finalized on every path out.
class Statement {
 public:
  Statement(sqlite3* db, const std::string& sql, const DocumentStore& store) : db_(db) {
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &s_, nullptr) != SQLITE_OK)
      throw FormatError(store.path() + ": " + sqlite3_errmsg(db) + " (is this a Cornerstone index database?)");
  }
  ~Statement() { sqlite3_finalize(s_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  Statement& bind(int i, int64_t v) {
    sqlite3_bind_int64(s_, i, v);
    return *this;
  }
  Statement& bind(int i, const std::string& v) {
    sqlite3_bind_text(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  // True while there is a row; throws on an error.
  bool step(const DocumentStore& store) {
    const int rc = sqlite3_step(s_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    throw FormatError(store.path() + ": " + sqlite3_errmsg(db_));
  }
  int64_t integer(int col) const { return sqlite3_column_int64(s_, col); }
  double real(int col) const { return sqlite3_column_double(s_, col); }
  std::string text(int col) const {
    const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s_, col));
    return p ? std::string(p, static_cast<size_t>(sqlite3_column_bytes(s_, col))) : std::string();
  }

 private:
  sqlite3* db_;
  sqlite3_stmt* s_ = nullptr;
};

constexpr const char* kSchema = R"sql(
CREATE TABLE sources(id INTEGER PRIMARY KEY, path TEXT UNIQUE NOT NULL, bytes INTEGER NOT NULL, chunks INTEGER NOT NULL DEFAULT 0);
CREATE TABLE chunks(id INTEGER PRIMARY KEY AUTOINCREMENT, source INTEGER NOT NULL REFERENCES sources(id),
                    seq INTEGER NOT NULL, begin INTEGER NOT NULL, end INTEGER NOT NULL);
CREATE INDEX chunks_by_source ON chunks(source);
CREATE VIRTUAL TABLE passages USING fts5(text, tokenize = 'porter unicode61');
)sql";

}  // namespace

DocumentStore::DocumentStore(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
DocumentStore::DocumentStore(DocumentStore&& o) noexcept : db_(std::exchange(o.db_, nullptr)), path_(std::move(o.path_)) {}
DocumentStore& DocumentStore::operator=(DocumentStore&& o) noexcept {
  if (this != &o) {
    if (db_) sqlite3_close(db_);
    db_ = std::exchange(o.db_, nullptr);
    path_ = std::move(o.path_);
  }
  return *this;
}
DocumentStore::~DocumentStore() {
  if (db_) sqlite3_close(db_);
}

void DocumentStore::exec(const std::string& sql) const {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    const std::string msg = err ? err : "unknown error";
    sqlite3_free(err);
    throw FormatError(path_ + ": " + msg);
  }
}

DocumentStore DocumentStore::create(const std::string& path) {
  if (fs::exists(path)) throw IOError("'" + path + "' already exists");
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) != SQLITE_OK) {
    const std::string msg = db ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close(db);
    throw IOError("cannot create '" + path + "': " + msg);
  }
  DocumentStore s(db, path);
  s.exec("PRAGMA journal_mode = DELETE; PRAGMA synchronous = FULL;");
  s.exec(kSchema);
  return s;
}

DocumentStore DocumentStore::open(const std::string& path, bool writable) {
  if (!fs::is_regular_file(path)) throw IOError("index database '" + path + "' is missing");
  sqlite3* db = nullptr;
  const int flags = writable ? SQLITE_OPEN_READWRITE : SQLITE_OPEN_READONLY;
  if (sqlite3_open_v2(path.c_str(), &db, flags, nullptr) != SQLITE_OK) {
    const std::string msg = db ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close(db);
    throw IOError("cannot open '" + path + "': " + msg);
  }
  DocumentStore s(db, path);
  // A damaged or foreign file fails here, with SQLite's reason, rather than on the first query.
  Statement check(db, "SELECT count(*) FROM sqlite_master WHERE name IN ('sources', 'chunks', 'passages')", s);
  if (!check.step(s) || check.integer(0) != 3) throw FormatError(path + ": not a Cornerstone index database (tables missing)");
  return s;
}

void DocumentStore::begin() { exec("BEGIN IMMEDIATE"); }
void DocumentStore::commit() { exec("COMMIT"); }

std::optional<int64_t> DocumentStore::source_id(const std::string& path) const {
  Statement q(db_, "SELECT id FROM sources WHERE path = ?", *this);
  q.bind(1, path);
  if (q.step(*this)) return q.integer(0);
  return std::nullopt;
}

int64_t DocumentStore::add_source(const std::string& path, int64_t bytes) {
  Statement q(db_, "INSERT INTO sources(path, bytes) VALUES(?, ?)", *this);
  q.bind(1, path).bind(2, bytes);
  q.step(*this);
  return sqlite3_last_insert_rowid(db_);
}

int64_t DocumentStore::add_chunk(int64_t source, int64_t seq, int64_t begin, int64_t end, const std::string& text) {
  Statement q(db_, "INSERT INTO chunks(source, seq, begin, end) VALUES(?, ?, ?, ?)", *this);
  q.bind(1, source).bind(2, seq).bind(3, begin).bind(4, end);
  q.step(*this);
  const int64_t id = sqlite3_last_insert_rowid(db_);
  Statement p(db_, "INSERT INTO passages(rowid, text) VALUES(?, ?)", *this);
  p.bind(1, id).bind(2, text);
  p.step(*this);
  Statement c(db_, "UPDATE sources SET chunks = chunks + 1 WHERE id = ?", *this);
  c.bind(1, source);
  c.step(*this);
  return id;
}

std::vector<int64_t> DocumentStore::remove_source(const std::string& path) {
  std::vector<int64_t> ids;
  const auto sid = source_id(path);
  if (!sid) return ids;
  {
    Statement q(db_, "SELECT id FROM chunks WHERE source = ? ORDER BY id", *this);
    q.bind(1, *sid);
    while (q.step(*this)) ids.push_back(q.integer(0));
  }
  for (int64_t id : ids) {
    Statement p(db_, "DELETE FROM passages WHERE rowid = ?", *this);
    p.bind(1, id);
    p.step(*this);
  }
  Statement c(db_, "DELETE FROM chunks WHERE source = ?", *this);
  c.bind(1, *sid);
  c.step(*this);
  Statement s(db_, "DELETE FROM sources WHERE id = ?", *this);
  s.bind(1, *sid);
  s.step(*this);
  return ids;
}

std::vector<SourceInfo> DocumentStore::sources() const {
  std::vector<SourceInfo> out;
  Statement q(db_, "SELECT id, path, bytes, chunks FROM sources ORDER BY path", *this);
  while (q.step(*this)) out.push_back({q.integer(0), q.text(1), q.integer(2), q.integer(3)});
  return out;
}

int64_t DocumentStore::chunk_count() const {
  Statement q(db_, "SELECT count(*) FROM chunks", *this);
  q.step(*this);
  return q.integer(0);
}

std::vector<int64_t> DocumentStore::chunk_ids() const {
  std::vector<int64_t> out;
  Statement q(db_, "SELECT id FROM chunks ORDER BY id", *this);
  while (q.step(*this)) out.push_back(q.integer(0));
  return out;
}

bool DocumentStore::has_chunk(int64_t id) const {
  Statement q(db_, "SELECT 1 FROM chunks WHERE id = ?", *this);
  q.bind(1, id);
  return q.step(*this);
}

StoredChunk DocumentStore::chunk(int64_t id) const {
  Statement q(db_,
              "SELECT c.id, s.path, c.seq, c.begin, c.end, p.text FROM chunks c JOIN sources s ON s.id = c.source "
              "JOIN passages p ON p.rowid = c.id WHERE c.id = ?",
              *this);
  q.bind(1, id);
  if (!q.step(*this)) throw FormatError(path_ + ": no chunk " + std::to_string(id) + " (the vector index and the database disagree)");
  return {q.integer(0), q.text(1), q.integer(2), q.integer(3), q.integer(4), q.text(5)};
}

std::string fts_query(const std::string& text) {
  // Words: runs of letters, digits and any non-ASCII bytes (unicode61 decides the rest).
  std::string out, word;
  std::set<std::string> seen;  // each word once (case-folded): a repeated "the" only costs time
  auto flush = [&] {
    if (word.empty()) return;
    std::string key = word;
    for (char& c : key) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (seen.insert(key).second) out += (out.empty() ? "\"" : " OR \"") + word + "\"";
    word.clear();
  };
  for (unsigned char c : text) {
    if (std::isalnum(c) || c >= 0x80 || c == '_') word += static_cast<char>(c);
    else flush();
  }
  flush();
  return out;
}

std::vector<ScoredId> DocumentStore::bm25(const std::string& query, int64_t k) const {
  std::vector<ScoredId> out;
  const std::string expr = fts_query(query);
  if (expr.empty() || k <= 0) return out;
  Statement q(db_, "SELECT rowid, bm25(passages) FROM passages WHERE passages MATCH ? ORDER BY bm25(passages) LIMIT ?", *this);
  q.bind(1, expr).bind(2, k);
  while (q.step(*this)) out.push_back({q.integer(0), -q.real(1)});  // bm25() is lower-is-better
  return out;
}

}  // namespace cornerstone::rag
