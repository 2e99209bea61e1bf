#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "cornerstone/core/error.h"
#include "cornerstone/data/token_shards.h"

using namespace cornerstone;
using namespace cornerstone::data;
namespace fs = std::filesystem;

namespace {
fs::path fresh_dir(const std::string& name) {
  fs::path d = fs::temp_directory_path() / ("cs_data_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}
}  // namespace

TEST(TokenShards, WriteReadAcrossShardsUint16AndUint32) {
  for (uint64_t vocab : {50257ull, 151643ull}) {
    const fs::path dir = fresh_dir("rw");
    {
      TokenShardWriter a((dir / "train-00000.bin").string(), vocab);
      a.append_document({1, 2, 3});
      a.append_document({static_cast<int32_t>(vocab - 1)});
      a.finish();
      TokenShardWriter b((dir / "train-00001.bin").string(), vocab);
      b.append_document({7, 8});
      b.finish();
    }
    TokenDataset d = TokenDataset::open(dir.string(), "train");
    EXPECT_EQ(d.size(), 6u);
    EXPECT_EQ(d.num_shards(), 2u);
    std::vector<int32_t> out(5);
    d.read(1, 5, out.data());  // spans both shards
    EXPECT_EQ(out, (std::vector<int32_t>{2, 3, static_cast<int32_t>(vocab - 1), 7, 8}));
    EXPECT_EQ(TokenShard::open((dir / "train-00000.bin").string()).header().token_bytes, vocab <= 65536 ? 2u : 4u);
    EXPECT_EQ(TokenShard::open((dir / "train-00000.bin").string()).header().documents, 2u);
    EXPECT_THROW(d.read(2, 5, out.data()), ValueError);
    fs::remove_all(dir);
  }
}

TEST(TokenShards, BadInputNamesTheFile) {
  const fs::path dir = fresh_dir("bad");
  {
    TokenShardWriter w((dir / "train-00000.bin").string(), 100);
    EXPECT_THROW(w.append_document({5, 100}), ValueError);
    w.append_document({5, 6, 7, 8});
    w.finish();
  }
  // Truncate: the header no longer matches the size.
  fs::resize_file(dir / "train-00000.bin", fs::file_size(dir / "train-00000.bin") - 2);
  try {
    TokenDataset::open(dir.string(), "train");
    FAIL();
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("train-00000.bin: header says 4 tokens"), std::string::npos) << e.what();
  }
  {
    std::ofstream f(dir / "val-00000.bin");
    f << std::string(64, 'x');
  }
  EXPECT_THROW(TokenDataset::open(dir.string(), "val"), FormatError);
  EXPECT_THROW(TokenDataset::open(dir.string(), "test"), ValueError);  // no such split
  EXPECT_THROW(TokenDataset::open((dir / "missing").string(), "train"), IOError);
  {
    TokenShardWriter abandoned((dir / "x-00000.bin").string(), 100);
    abandoned.append_document({1});
  }  // not finished: nothing left behind
  EXPECT_FALSE(fs::exists(dir / "x-00000.bin"));
  fs::remove_all(dir);
}
