#include "retrieval_set.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <sstream>
#include <vector>

#include <nlohmann/json.hpp>

#include "cornerstone/core/error.h"
#include "cornerstone/core/rng.h"
#include "cornerstone/data/prepare.h"
#include "cornerstone/io/atomic_file.h"
#include "cornerstone/io/staged_folder.h"

namespace cornerstone::data {

namespace fs = std::filesystem;

namespace {

struct Doc {
  std::string path;   // relative, without .gz
  std::string title;
  std::string body;   // the text without its title
};

std::string trim(const std::string& s) {
  const size_t a = s.find_first_not_of(" \t\r"), b = s.find_last_not_of(" \t\r");
  return a == std::string::npos ? "" : s.substr(a, b - a + 1);
}

// A line of one repeated punctuation character (an RST section adornment) at least `width` long.
bool adornment(const std::string& line, size_t width) {
  const std::string t = trim(line);
  if (t.size() < std::max<size_t>(3, width)) return false;
  if (std::string("=-~^*#+\"'`:.").find(t[0]) == std::string::npos) return false;
  return t.find_first_not_of(t[0]) == std::string::npos;
}

// The document's title (the first adorned line) and the text without it.
Doc split_title(const std::string& path, const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  Doc d;
  d.path = path;
  size_t cut_from = 0, cut_to = 0;
  for (size_t i = 0; i + 1 < lines.size() && i < 60; ++i) {
    const std::string t = trim(lines[i]);
    if (t.empty() || t.rfind("..", 0) == 0 || adornment(lines[i], 1)) continue;
    if (!adornment(lines[i + 1], t.size())) continue;
    d.title = t;
    cut_from = i > 0 && adornment(lines[i - 1], t.size()) ? i - 1 : i;
    cut_to = i + 2;
    break;
  }
  for (size_t i = 0; i < lines.size(); ++i)
    if (d.title.empty() || i < cut_from || i >= cut_to) d.body += lines[i] + "\n";
  return d;
}

std::string opening(const std::string& body, int64_t words) {
  std::istringstream in(body);
  std::string w, out;
  for (int64_t n = 0; n < words && in >> w;) {
    if (w.rfind("..", 0) == 0 || w.find_first_not_of("=-~^*#:|") == std::string::npos) continue;  // markup, not prose
    out += (out.empty() ? "" : " ") + w;
    ++n;
  }
  return out;
}

int64_t word_count(const std::string& s) {
  std::istringstream in(s);
  int64_t n = 0;
  for (std::string w; in >> w;) ++n;
  return n;
}

}  // namespace

RetrievalSetSummary make_linux_doc_set(const std::string& source, const std::string& out, const RetrievalSetOptions& o) {
  if (!fs::is_directory(source))
    throw IOError("'" + source + "' is not a folder (install the documentation: scripts/setup linux-doc-6.1; it is in "
                  "/usr/share/doc/linux-doc-6.1/Documentation)");
  std::vector<std::string> files;
  for (auto it = fs::recursive_directory_iterator(source); it != fs::recursive_directory_iterator(); ++it) {
    if (it->is_directory() && it->path().filename() == "translations") {
      it.disable_recursion_pending();
      continue;
    }
    const std::string name = it->path().filename().string();
    if (it->is_regular_file() && name.size() > 7 && name.compare(name.size() - 7, 7, ".rst.gz") == 0) files.push_back(it->path().string());
  }
  std::sort(files.begin(), files.end());
  if (files.empty()) throw IOError("'" + source + "' holds no .rst.gz documents");

  io::StagedFolder staged(out);
  const fs::path root(staged.path());
  std::vector<Doc> docs;
  std::map<std::string, int> title_uses;
  for (const auto& f : files) {
    std::string rel = fs::relative(f, source).string();
    rel.resize(rel.size() - 3);  // .gz
    Doc d = split_title(rel, read_text(f));
    if (word_count(d.body) < 50) continue;  // index stubs and toctrees
    fs::create_directories((root / "corpus" / rel).parent_path());
    io::write_file_atomic((root / "corpus" / rel).string(), d.body);
    if (!d.title.empty()) ++title_uses[d.title];
    docs.push_back(std::move(d));
  }
  // Queries: documents whose title is specific; the rest (with a title) train the adapters.
  std::vector<size_t> candidates, rest;
  for (size_t i = 0; i < docs.size(); ++i)
    if (!docs[i].title.empty()) (word_count(docs[i].title) >= 3 && title_uses[docs[i].title] == 1 ? candidates : rest).push_back(i);
  Rng rng(o.seed);
  for (size_t i = candidates.size(); i > 1; --i) std::swap(candidates[i - 1], candidates[rng.below(i)]);
  const size_t nq = std::min(candidates.size(), static_cast<size_t>(std::max<int64_t>(0, o.queries)));
  rest.insert(rest.end(), candidates.begin() + static_cast<long>(nq), candidates.end());
  std::sort(rest.begin(), rest.end());

  if (rest.size() < 2) throw ValueError("'" + source + "': too few titled documents to make training triples");
  RetrievalSetSummary s;
  s.documents = static_cast<int64_t>(docs.size());
  std::string queries, train, val;
  for (size_t i = 0; i < nq; ++i) {
    const Doc& d = docs[candidates[i]];
    queries += nlohmann::json{{"query", d.title}, {"relevant", {d.path}}}.dump() + "\n";
  }
  s.queries = static_cast<int64_t>(nq);
  for (size_t k = 0; k < rest.size(); ++k) {
    const Doc& d = docs[rest[k]];
    const Doc& other = docs[rest[(k + 1 + rng.below(rest.size() - 1)) % rest.size()]];
    const std::string line = nlohmann::json{{"query", d.title}, {"positive", opening(d.body, o.passage_words)},
                                            {"negative", opening(other.body, o.passage_words)}}.dump() + "\n";
    if (rng.uniform() < o.val_fraction) val += line, ++s.val;
    else train += line, ++s.train;
  }
  io::write_file_atomic((root / "queries.jsonl").string(), queries);
  io::write_file_atomic((root / "train.jsonl").string(), train);
  io::write_file_atomic((root / "val.jsonl").string(), val);
  staged.commit();
  return s;
}

}  // namespace cornerstone::data
