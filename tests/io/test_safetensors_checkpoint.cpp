// Hugging Face weight folders: single file and shards + index (written, read back, damaged), the
// size parser, and staged folders that appear complete or not at all.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "cornerstone/core/error.h"
#include "cornerstone/core/rng.h"
#include "cornerstone/io/atomic_file.h"
#include "cornerstone/io/safetensors_checkpoint.h"
#include "cornerstone/io/staged_folder.h"
#include "cli.h"
#include "test_util.h"

using namespace cornerstone;
using namespace cornerstone::io;
namespace fs = std::filesystem;

namespace {

class Checkpoint : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = cornerstone::testing::fresh_temp_dir("st_checkpoint"); }
  void TearDown() override { fs::remove_all(dir_); }
  std::string dir_;
};

std::vector<std::pair<std::string, Tensor>> some_tensors() {
  Rng rng(4);
  return {{"a", Tensor::randn({10, 10}, rng)},          // 400 bytes
          {"b", Tensor::randn({10, 10}, rng)},          // 400
          {"c", Tensor::randn({300}, rng)},             // 1200: larger than a shard on its own
          {"d", Tensor::randn({5}, rng).to(DType::BF16)}};  // 10
}

}  // namespace

TEST_F(Checkpoint, SmallWeightsStayInOneFile) {
  const auto files = save_safetensors_checkpoint(dir_, some_tensors(), 1ull << 30);
  EXPECT_EQ(files, std::vector<std::string>{"model.safetensors"});
  const auto c = SafeTensorsCheckpoint::open(dir_);
  EXPECT_FALSE(c.sharded());
  EXPECT_EQ(c.names(), (std::vector<std::string>{"a", "b", "c", "d"}));
}

TEST_F(Checkpoint, ShardsSplitInOrderAndReadBackThroughTheIndex) {
  const auto tensors = some_tensors();
  const auto files = save_safetensors_checkpoint(dir_, tensors, 1000, {{"format", "pt"}});
  EXPECT_EQ(files, (std::vector<std::string>{"model-00001-of-00003.safetensors", "model-00002-of-00003.safetensors",
                                             "model-00003-of-00003.safetensors", "model.safetensors.index.json"}));
  const auto index = nlohmann::json::parse(read_file(dir_ + "/model.safetensors.index.json"));
  EXPECT_EQ(index["metadata"]["total_size"], 2010);
  EXPECT_EQ(index["weight_map"]["a"], "model-00001-of-00003.safetensors");
  EXPECT_EQ(index["weight_map"]["b"], "model-00001-of-00003.safetensors");
  EXPECT_EQ(index["weight_map"]["c"], "model-00002-of-00003.safetensors");
  EXPECT_EQ(index["weight_map"]["d"], "model-00003-of-00003.safetensors");
  const auto c = SafeTensorsCheckpoint::open(dir_);
  EXPECT_TRUE(c.sharded());
  EXPECT_EQ(c.files().size(), 3u);
  EXPECT_EQ(c.names(), (std::vector<std::string>{"a", "b", "c", "d"}));
  for (const auto& [n, t] : tensors) {
    EXPECT_EQ(c.get(n).dtype(), t.dtype());
    EXPECT_EQ(c.get(n).to_vector(), t.to_vector()) << n;
  }
  EXPECT_EQ(fs::path(c.file_of("c")).filename(), "model-00002-of-00003.safetensors");
  EXPECT_THROW(c.get("zz"), FormatError);
}

TEST_F(Checkpoint, DamagedIndexesNameTheEntry) {
  save_safetensors_checkpoint(dir_, some_tensors(), 1000);
  const std::string index_path = dir_ + "/model.safetensors.index.json";
  const auto good = nlohmann::json::parse(read_file(index_path));
  auto expect_error = [&](const nlohmann::json& j, const std::string& what) {
    write_file_atomic(index_path, j.dump());
    try {
      SafeTensorsCheckpoint::open(dir_);
      ADD_FAILURE() << "opened: " << what;
    } catch (const FormatError& e) {
      EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
    }
  };
  auto j = good;
  j["weight_map"]["a"] = "model-00009-of-00003.safetensors";
  expect_error(j, "weight_map['a'] names shard 'model-00009-of-00003.safetensors', which is missing");
  j = good;
  j["weight_map"]["a"] = "model-00002-of-00003.safetensors";
  expect_error(j, "shard 'model-00002-of-00003.safetensors' has no tensor named 'a'");
  j = good;
  j["weight_map"]["a"] = "../etc/passwd";
  expect_error(j, "is not a file name inside the folder");
  j = good;
  j.erase("weight_map");
  expect_error(j, "expected an object with a 'weight_map'");
  write_file_atomic(index_path, "{not json");
  EXPECT_THROW(SafeTensorsCheckpoint::open(dir_), FormatError);
  fs::remove(index_path);
  EXPECT_FALSE(SafeTensorsCheckpoint::exists(dir_));
  EXPECT_THROW(SafeTensorsCheckpoint::open(dir_), IOError);
}

TEST(ByteSize, ParsesTransformersStyleSizes) {
  EXPECT_EQ(parse_byte_size("2GB"), 2000000000u);
  EXPECT_EQ(parse_byte_size("500MB"), 500000000u);
  EXPECT_EQ(parse_byte_size("1.5GiB"), 1610612736u);
  EXPECT_EQ(parse_byte_size("10kb"), 10000u);
  EXPECT_EQ(parse_byte_size("1234"), 1234u);
  for (const char* bad : {"", "GB", "2TB", "-1GB", "0", "1..2GB", "x"}) EXPECT_THROW(parse_byte_size(bad), ValueError) << bad;
}

TEST_F(Checkpoint, StagedFolderAppearsOnlyOnCommit) {
  const std::string dest = dir_ + "/out";
  {
    StagedFolder s(dest);
    write_file_atomic(s.path() + "/a.txt", "x");
    EXPECT_FALSE(fs::exists(dest));
    EXPECT_EQ(fs::path(s.path()).parent_path(), fs::path(dir_));
  }  // no commit: nothing is left behind
  EXPECT_FALSE(fs::exists(dest));
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_), fs::directory_iterator()), 0);
  {
    StagedFolder s(dest);
    write_file_atomic(s.path() + "/a.txt", "x");
    s.commit();
  }
  EXPECT_EQ(read_file(dest + "/a.txt"), "x");
  // A non-empty destination is refused and left alone; an empty one is replaced.
  EXPECT_THROW(StagedFolder{dest}, IOError);
  EXPECT_EQ(read_file(dest + "/a.txt"), "x");
  fs::create_directories(dir_ + "/empty");
  {
    StagedFolder s(dir_ + "/empty/");
    write_file_atomic(s.path() + "/b.txt", "y");
    s.commit();
  }
  EXPECT_EQ(read_file(dir_ + "/empty/b.txt"), "y");
  write_file_atomic(dir_ + "/file", "z");
  EXPECT_THROW(StagedFolder{dir_ + "/file"}, IOError);
}
