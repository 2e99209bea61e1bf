// The pieces behind crash-safe writes (tests/crashsafe kills the CLI around them): a staged folder
// that replaces an existing one in a single exchange, replace_folder, and the removal of the
// temporaries that a killed writer leaves (only those of processes that are gone).
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>

#include "cli.h"
#include "cornerstone/core/error.h"
#include "cornerstone/io/atomic_file.h"
#include "cornerstone/io/staged_folder.h"
#include "cornerstone/io/temporaries.h"

using namespace cornerstone;
using namespace cornerstone::io;
namespace fs = std::filesystem;

namespace {

class CrashSafeWrites : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = cornerstone::testing::fresh_temp_dir("crash_safe_writes"); }
  void TearDown() override { fs::remove_all(dir_); }
  std::string d(const std::string& name) const { return dir_ + "/" + name; }
  std::string dir_;
};

// The id of a process that has exited (and been reaped): no process has it, for now.
long dead_pid() {
  const pid_t pid = fork();
  if (pid == 0) _exit(0);
  int status = 0;
  waitpid(pid, &status, 0);
  return pid;
}

size_t entries(const std::string& dir) { return static_cast<size_t>(std::distance(fs::directory_iterator(dir), fs::directory_iterator())); }

}  // namespace

TEST_F(CrashSafeWrites, ReplacingStagedFolderSwapsTheWholeFolderAndKeepsOtherFiles) {
  const std::string dest = d("data");
  fs::create_directories(dest);
  write_file_atomic(dest + "/train-00000.bin", "old shard 0");
  write_file_atomic(dest + "/train-00001.bin", "old shard 1");
  write_file_atomic(dest + "/NOTES.txt", "the user's");
  write_file_atomic(dest + "/NOTES.txt.tmp." + std::to_string(dead_pid()), "a killed writer's");
  auto owned = [](const std::string& n) { return n.rfind("train-", 0) == 0; };
  {
    StagedFolder s(dest, StagedFolder::Existing::Replace, owned);
    write_file_atomic(s.path() + "/train-00000.bin", "new shard 0");
    // Until commit() the old folder is whole.
    EXPECT_EQ(read_file(dest + "/train-00001.bin"), "old shard 1");
  }  // destroyed without commit(): the old folder stays, the staging folder goes
  EXPECT_EQ(read_file(dest + "/train-00000.bin"), "old shard 0");
  EXPECT_EQ(entries(dir_), 1u);
  {
    StagedFolder s(dest, StagedFolder::Existing::Replace, owned);
    write_file_atomic(s.path() + "/train-00000.bin", "new shard 0");
    s.commit();
  }
  EXPECT_EQ(read_file(dest + "/train-00000.bin"), "new shard 0");
  EXPECT_FALSE(fs::exists(dest + "/train-00001.bin"));  // owned and not rewritten: gone with the old folder
  EXPECT_EQ(read_file(dest + "/NOTES.txt"), "the user's");
  EXPECT_EQ(entries(dest), 2u);  // the killed writer's temporary stayed behind with the old folder
  EXPECT_EQ(entries(dir_), 1u);  // no staging folder, no old folder left beside it
  // A folder inside that the command does not own is refused up front, not deleted.
  fs::create_directories(dest + "/checkpoints");
  EXPECT_THROW(StagedFolder(dest, StagedFolder::Existing::Replace, owned), IOError);
  EXPECT_TRUE(fs::exists(dest + "/checkpoints"));
}

TEST_F(CrashSafeWrites, ReplaceFolderRenamesOrExchanges) {
  fs::create_directories(d(".new"));
  write_file_atomic(d(".new/a"), "1");
  replace_folder(d(".new"), d("out"));  // nothing there: a rename
  EXPECT_EQ(read_file(d("out/a")), "1");
  fs::create_directories(d(".newer"));
  write_file_atomic(d(".newer/b"), "2");
  replace_folder(d(".newer"), d("out"));  // there: an exchange, then the old one is removed
  EXPECT_EQ(read_file(d("out/b")), "2");
  EXPECT_FALSE(fs::exists(d("out/a")));
  EXPECT_FALSE(fs::exists(d(".newer")));
}

TEST_F(CrashSafeWrites, OnlyTemporariesOfProcessesThatAreGoneAreRemoved) {
  const std::string dead = std::to_string(dead_pid()), alive = std::to_string(getpid());
  write_file_atomic(d("model.safetensors"), "complete");
  for (const std::string& name : {"model.safetensors.tmp." + dead, "model.safetensors.tmp." + alive, "config.json.tmp." + dead,
                                  std::string("model.safetensors.tmp.notapid")}) {
    FILE* f = std::fopen(d(name).c_str(), "w");
    std::fclose(f);
  }
  fs::create_directories(d(".out.partial-" + dead + "-0/inner"));
  fs::create_directories(d(".out.partial-" + alive + "-0"));

  remove_stale_temporaries(dir_, "model.safetensors.tmp.", ".tmp.");
  EXPECT_FALSE(fs::exists(d("model.safetensors.tmp." + dead)));
  EXPECT_TRUE(fs::exists(d("model.safetensors.tmp." + alive)));  // another writer at work
  EXPECT_TRUE(fs::exists(d("config.json.tmp." + dead)));         // another file's
  EXPECT_TRUE(fs::exists(d("model.safetensors.tmp.notapid")));
  EXPECT_EQ(read_file(d("model.safetensors")), "complete");

  remove_stale_temporaries(dir_, ".out.partial-", ".partial-");
  EXPECT_FALSE(fs::exists(d(".out.partial-" + dead + "-0")));
  EXPECT_TRUE(fs::exists(d(".out.partial-" + alive + "-0")));

  // The writers themselves clean up after their killed predecessors.
  AtomicFile f(d("config.json"));
  EXPECT_FALSE(fs::exists(d("config.json.tmp." + dead)));
  fs::create_directories(d(".out.partial-" + dead + "-3"));
  StagedFolder s(d("out"));
  EXPECT_FALSE(fs::exists(d(".out.partial-" + dead + "-3")));
}
