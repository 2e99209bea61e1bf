#include "cornerstone/io/staged_folder.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "cornerstone/core/error.h"

namespace cornerstone::io {

namespace fs = std::filesystem;

namespace {

void fsync_folder(const fs::path& dir) {
  const int fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd >= 0) {
    fsync(fd);
    ::close(fd);
  }
}

}  // namespace

StagedFolder::StagedFolder(std::string dest) : dest_(std::move(dest)) {
  while (dest_.size() > 1 && dest_.back() == '/') dest_.pop_back();
  const fs::path d(dest_);
  std::error_code ec;
  if (fs::exists(d, ec)) {
    if (!fs::is_directory(d)) throw IOError("'" + dest_ + "' exists and is not a folder; choose another --out");
    if (!fs::is_empty(d)) throw IOError("'" + dest_ + "' already exists and is not empty; choose another --out or remove it");
  }
  const fs::path parent = d.has_parent_path() ? d.parent_path() : fs::path(".");
  if (!fs::is_directory(parent, ec)) {
    fs::create_directories(parent, ec);
    if (ec) throw IOError("cannot create folder '" + parent.string() + "': " + ec.message());
  }
  static std::atomic<int> counter{0};
  std::string name = ".";
  name += d.filename().string();
  name += ".partial-" + std::to_string(getpid()) + "-" + std::to_string(counter++);
  staging_ = (parent / name).string();
  fs::remove_all(staging_, ec);  // a leftover of a crashed run with the same pid
  if (!fs::create_directory(staging_, ec) || ec)
    throw IOError("cannot create staging folder '" + staging_ + "': " + (ec ? ec.message() : "it already exists"));
}

StagedFolder::~StagedFolder() {
  if (committed_) return;
  std::error_code ec;
  fs::remove_all(staging_, ec);
}

void StagedFolder::commit() {
  // rename(2) replaces an empty destination folder and fails on a non-empty one, so a folder
  // that someone filled after the constructor's check is still never overwritten.
  if (std::rename(staging_.c_str(), dest_.c_str()) != 0)
    throw IOError("cannot move '" + staging_ + "' to '" + dest_ + "': " + std::strerror(errno));
  committed_ = true;
  fsync_folder(fs::path(dest_).parent_path());
}

}  // namespace cornerstone::io
