// data::prepare on gzipped inputs: a .gz document gives the tokens of its plain text, the summary
// counts decompressed bytes, and a corrupt .gz is refused naming the file.
#include <gtest/gtest.h>
#include <unistd.h>
#include <zlib.h>

#include <filesystem>
#include <fstream>

#include "cornerstone/core/error.h"
#include "cornerstone/data/prepare.h"
#include "cornerstone/data/token_shards.h"
#include "cornerstone/tokenize/bpe_trainer.h"

using namespace cornerstone;
namespace fs = std::filesystem;

namespace {
fs::path fresh_dir(const std::string& name) {
  fs::path d = fs::temp_directory_path() / ("cs_prepare_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

void write_plain(const fs::path& p, const std::string& text) { std::ofstream(p, std::ios::binary) << text; }

void write_gzip(const fs::path& p, const std::string& text) {
  gzFile f = gzopen(p.c_str(), "wb9");
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(gzwrite(f, text.data(), static_cast<unsigned>(text.size())), static_cast<int>(text.size()));
  gzclose(f);
}

std::vector<int32_t> all_tokens(const fs::path& dir, const std::string& split) {
  const data::TokenDataset d = data::TokenDataset::open(dir.string(), split);
  std::vector<int32_t> out(d.size());
  d.read(0, d.size(), out.data());
  return out;
}

const std::string kText =
    "The Congress shall assemble at least once in every year, and such meeting shall be on the first Monday in "
    "December. The Congress shall assemble at least once in every year, and such meeting shall be on the first "
    "Monday in December, unless they shall by law appoint a different day.\n";
}  // namespace

TEST(Prepare, GzippedDocumentsGiveThePlainTokensAndCountDecompressedBytes) {
  const fs::path dir = fresh_dir("gz");
  tokenize::BpeTrainerOptions opt;
  opt.vocab_size = 300;
  opt.special_tokens = {"<|endoftext|>"};
  opt.threads = 1;
  const std::string docs[] = {kText};
  const tokenize::Tokenizer tok = tokenize::train_bpe_on_texts(docs, opt);
  data::PrepareOptions po;
  po.val_fraction = 0;
  po.progress = false;

  fs::create_directories(dir / "plain");
  fs::create_directories(dir / "gz");
  write_plain(dir / "plain" / "a.txt", kText);
  write_gzip(dir / "gz" / "a.txt.gz", kText);
  ASSERT_LT(fs::file_size(dir / "gz" / "a.txt.gz"), kText.size());  // the repeated sentence compresses

  const data::PrepareSummary plain = data::prepare(tok, {(dir / "plain").string()}, (dir / "out_plain").string(), po);
  const data::PrepareSummary gz = data::prepare(tok, {(dir / "gz").string()}, (dir / "out_gz").string(), po);
  EXPECT_EQ(plain.bytes, static_cast<int64_t>(kText.size()));
  EXPECT_EQ(gz.bytes, static_cast<int64_t>(kText.size()));  // not the compressed file's size
  EXPECT_EQ(gz.train_tokens, plain.train_tokens);
  EXPECT_EQ(all_tokens(dir / "out_gz", "train"), all_tokens(dir / "out_plain", "train"));
  fs::remove_all(dir);
}

TEST(Prepare, CorruptGzipIsRefusedNamingTheFile) {
  const fs::path dir = fresh_dir("badgz");
  write_gzip(dir / "b.txt.gz", kText);
  fs::resize_file(dir / "b.txt.gz", fs::file_size(dir / "b.txt.gz") / 2);  // cut mid-stream
  try {
    (void)data::read_text((dir / "b.txt.gz").string());
    FAIL() << "a truncated .gz was read";
  } catch (const IOError& e) {
    EXPECT_NE(std::string(e.what()).find("b.txt.gz"), std::string::npos) << e.what();
  }
  fs::remove_all(dir);
}
