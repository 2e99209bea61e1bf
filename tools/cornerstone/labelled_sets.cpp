#include "labelled_sets.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cornerstone/core/error.h"
#include "cornerstone/core/rng.h"
#include "cornerstone/io/atomic_file.h"

namespace cornerstone::data {

namespace fs = std::filesystem;

namespace {

// Cuts to at most n bytes without splitting a UTF-8 sequence.
std::string cut(const std::string& s, int64_t n) {
  if (static_cast<int64_t>(s.size()) <= n) return s;
  size_t end = static_cast<size_t>(n);
  while (end > 0 && (static_cast<unsigned char>(s[end]) & 0xC0) == 0x80) --end;
  return s.substr(0, end);
}

// JSON needs valid UTF-8: bytes that are not (old mails are Latin-1) become U+FFFD.
std::string valid_utf8(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    // Well-formed sequences only (RFC 3629): no overlongs, no surrogates, nothing above U+10FFFF.
    const size_t len = c < 0x80 ? 1 : (c >= 0xC2 && c <= 0xDF) ? 2 : (c >= 0xE0 && c <= 0xEF) ? 3 : (c >= 0xF0 && c <= 0xF4) ? 4 : 0;
    bool ok = len > 0 && i + len <= s.size();
    for (size_t k = 1; ok && k < len; ++k) ok = (static_cast<unsigned char>(s[i + k]) & 0xC0) == 0x80;
    if (ok && len >= 3) {
      const unsigned char c1 = static_cast<unsigned char>(s[i + 1]);
      ok = !(c == 0xE0 && c1 < 0xA0) && !(c == 0xED && c1 > 0x9F) && !(c == 0xF0 && c1 < 0x90) && !(c == 0xF4 && c1 > 0x8F);
    }
    if (ok) {
      out.append(s, i, len);
      i += len;
    } else {
      out += "\xEF\xBF\xBD";
      ++i;
    }
  }
  return out;
}

// Shuffles with the seed and writes the three splits as OUT/{test,val,train}<suffix>.jsonl. Rows
// of the same count shuffle the same way: parallel files written with one seed stay aligned.
SplitSummary write_splits(std::vector<nlohmann::json> rows, const std::string& out, const SplitOptions& o,
                          const std::string& suffix = "") {
  if (rows.empty()) throw ValueError("no examples found in the source");
  if (!(o.val_fraction >= 0 && o.test_fraction >= 0 && o.val_fraction + o.test_fraction < 1))
    throw ValueError("the validation and test fractions must be >= 0 and sum to less than 1");
  Rng rng(o.seed);
  for (size_t i = rows.size(); i > 1; --i) std::swap(rows[i - 1], rows[rng.below(i)]);
  const size_t n = rows.size();
  const size_t n_test = static_cast<size_t>(o.test_fraction * static_cast<double>(n));
  const size_t n_val = static_cast<size_t>(o.val_fraction * static_cast<double>(n));
  fs::create_directories(out);
  auto write = [&](const char* name, size_t b, size_t e) {
    std::string text;
    for (size_t i = b; i < e; ++i) text += rows[i].dump() + "\n";
    io::write_file_atomic((fs::path(out) / (name + suffix + ".jsonl")).string(), text);
    return static_cast<int64_t>(e - b);
  };
  SplitSummary s;
  s.test = write("test", 0, n_test);
  s.val = write("val", n_test, n_test + n_val);
  s.train = write("train", n_test + n_val, n);
  return s;
}

std::vector<fs::path> sorted_files(const fs::path& dir) {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_regular_file()) out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

std::string email_text(const std::string& raw) {
  // Headers end at the first empty line; of them only the subject carries content.
  std::istringstream in(raw);
  std::string line, subject;
  bool body = false;
  std::string text;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (!body) {
      if (line.empty()) {
        body = true;
        continue;
      }
      if (line.rfind("Subject:", 0) == 0) subject = line.substr(8);
      continue;
    }
    text += line + "\n";
  }
  const size_t first = subject.find_first_not_of(' ');
  return (first == std::string::npos ? "" : subject.substr(first)) + "\n\n" + text;
}

SplitSummary make_spam_set(const std::string& source, const std::string& out, const SplitOptions& o) {
  const fs::path data = fs::path(source) / "data";
  if (!fs::is_directory(data)) throw IOError("'" + source + "' has no data/ folder (pass the folder `scripts/fetch spam` prints)");
  std::vector<nlohmann::json> rows;
  for (const char* group : {"easy-ham-1", "easy-ham-2", "hard-ham-1", "spam-1", "spam-2"}) {
    const bool spam = std::string(group).rfind("spam", 0) == 0;
    if (!fs::is_directory(data / group)) throw IOError("missing " + (data / group).string());
    for (const fs::path& f : sorted_files(data / group)) {
      if (f.extension() != ".txt") continue;
      rows.push_back({{"text", valid_utf8(cut(email_text(io::read_file(f.string())), o.max_chars))}, {"label", spam ? "spam" : "ham"}});
    }
  }
  return write_splits(std::move(rows), out, o);
}

namespace {
// Brown's tags with their title / headline / negation decorations removed ("nn-tl" -> "nn").
std::string simple_tag(const std::string& t) {
  std::string s = t;
  if (s.rfind("fw-", 0) == 0) s = s.substr(3);
  const size_t dash = s.find('-', 1);
  if (dash != std::string::npos) s = s.substr(0, dash);
  if (s.size() > 1 && s.back() == '*') s.pop_back();
  return s;
}

// Sentences of a Brown file: each a list of (word, tag).
std::vector<std::vector<std::pair<std::string, std::string>>> brown_sentences(const std::string& path) {
  std::vector<std::vector<std::pair<std::string, std::string>>> out;
  std::istringstream in(io::read_file(path));
  for (std::string line; std::getline(in, line);) {
    std::istringstream words(line);
    std::vector<std::pair<std::string, std::string>> sent;
    for (std::string wt; words >> wt;) {
      const size_t slash = wt.rfind('/');
      if (slash == std::string::npos || slash == 0) continue;
      sent.emplace_back(wt.substr(0, slash), simple_tag(wt.substr(slash + 1)));
    }
    if (!sent.empty()) out.push_back(std::move(sent));
  }
  return out;
}

std::vector<std::pair<std::string, std::string>> brown_documents(const std::string& source) {
  const std::string cats = (fs::path(source) / "cats.txt").string();
  if (!fs::exists(cats)) throw IOError("'" + source + "' has no cats.txt (pass the folder `scripts/fetch brown` prints)");
  std::vector<std::pair<std::string, std::string>> docs;  // file, genre
  std::istringstream in(io::read_file(cats));
  for (std::string id, genre; in >> id >> genre;) docs.emplace_back((fs::path(source) / id).string(), genre);
  return docs;
}
}  // namespace

SplitSummary make_brown_pos_set(const std::string& source, const std::string& out, const SplitOptions& o) {
  std::vector<nlohmann::json> rows;
  for (const auto& [file, genre] : brown_documents(source))
    for (const auto& sent : brown_sentences(file)) {
      std::vector<std::string> tokens, tags;
      for (const auto& [w, t] : sent) tokens.push_back(w), tags.push_back(t);
      rows.push_back({{"tokens", tokens}, {"tags", tags}});
    }
  return write_splits(std::move(rows), out, o);
}

int64_t write_brown_text(const std::string& source, const std::string& out) {
  fs::create_directories(out);
  int64_t n = 0;
  for (const auto& [file, genre] : brown_documents(source)) {
    std::string text;
    for (const auto& sent : brown_sentences(file)) {
      for (size_t i = 0; i < sent.size(); ++i) text += (i ? " " : "") + sent[i].first;
      text += "\n";
    }
    io::write_file_atomic((fs::path(out) / (fs::path(file).filename().string() + ".txt")).string(), text);
    ++n;
  }
  return n;
}

SplitSummary make_brown_genre_set(const std::string& source, const std::string& out, const SplitOptions& o) {
  std::vector<nlohmann::json> rows;
  for (const auto& [file, genre] : brown_documents(source)) {
    std::string text;
    for (const auto& sent : brown_sentences(file)) {
      for (const auto& [w, t] : sent) text += (text.empty() ? "" : " ") + w;
      if (static_cast<int64_t>(text.size()) > o.max_chars) break;
    }
    rows.push_back({{"text", cut(text, o.max_chars)}, {"label", genre}});
  }
  return write_splits(std::move(rows), out, o);
}

SplitSummary make_sotu_qa_set(const std::string& source, const std::string& out, const SplitOptions& o) {
  const fs::path data = fs::path(source) / "data";
  if (!fs::is_directory(data)) throw IOError("'" + source + "' has no data/ folder (pass the folder `scripts/fetch sotu` prints)");
  struct Address {
    int64_t year;
    std::string name, party, text;
  };
  std::vector<Address> addresses;
  std::map<int64_t, int> per_year;
  for (const fs::path& f : sorted_files(data)) {
    if (f.extension() != ".json") continue;
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(io::read_file(f.string()));
      addresses.push_back({j.at("year").get<int64_t>(), j.at("name").get<std::string>(), j.at("party").get<std::string>(),
                           j.at("text").get<std::string>()});
    } catch (const nlohmann::json::exception& e) {
      throw FormatError(f.string() + ": expected {\"year\", \"name\", \"party\", \"text\"}: " + e.what());
    }
    ++per_year[addresses.back().year];
  }
  std::vector<nlohmann::json> rows;
  for (const Address& a : addresses) {
    const std::string year = std::to_string(a.year);
    if (per_year[a.year] == 1) {  // a year with two addresses (a new president's first) has no single answer
      rows.push_back({{"prompt", "Who delivered the State of the Union address of " + year + "?"}, {"response", a.name + "."}});
      rows.push_back({{"prompt", "Which party did the author of the " + year + " State of the Union address belong to?"},
                      {"response", a.party == "none" ? "None: " + a.name + " belonged to no party." : a.party + "."}});
    }
    // The opening sentence: up to the first full stop after 40 bytes, at most max_chars.
    const size_t begin = std::min(a.text.size(), a.text.find_first_not_of(" \t\r\n"));
    const size_t stop = a.text.find(". ", begin + 40);
    const std::string first = cut(a.text.substr(begin, stop == std::string::npos ? std::string::npos : stop + 1 - begin), o.max_chars);
    rows.push_back({{"prompt", "How does " + a.name + "'s " + year + " State of the Union address begin?"}, {"response", valid_utf8(first)}});
  }
  return write_splits(std::move(rows), out, o);
}

SplitSummary make_arithmetic_set(const ArithmeticOptions& problems, bool steps, const std::string& out, const SplitOptions& o) {
  std::vector<nlohmann::json> sft, answers, pairs;
  uint64_t variant = problems.seed;
  for (const ArithmeticProblem& p : make_arithmetic_problems(problems)) {
    const std::string solution = steps ? p.steps() : p.direct();
    const std::string correct = std::to_string(p.answer()), wrong = std::to_string(p.wrong_answer(variant++));
    const std::string rejected = solution.substr(0, solution.size() - correct.size()) + wrong;  // the solution ends in its answer
    sft.push_back({{"prompt", p.prompt()}, {"response", solution}});
    answers.push_back({{"prompt", p.prompt()}, {"answer", correct}, {"solution", solution}, {"op", arithmetic_op_name(p.op)},
                       {"digits", p.digits()}});
    pairs.push_back({{"prompt", p.prompt()}, {"chosen", solution}, {"rejected", rejected}});
  }
  write_splits(std::move(answers), out, o, ".answers");
  write_splits(std::move(pairs), out, o, ".pairs");
  return write_splits(std::move(sft), out, o);
}

}  // namespace cornerstone::data
