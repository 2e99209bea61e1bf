#include "cornerstone/io/staged_folder.h"

#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "cornerstone/core/error.h"
#include "cornerstone/io/temporaries.h"

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

std::string os_error() { return std::strerror(errno); }

}  // namespace

void replace_folder(const std::string& staged, const std::string& dest) {
  const fs::path parent = fs::path(dest).parent_path();
  fsync_folder(staged);  // its entries (the files were fsync'ed by their writers)
  if (::renameat2(AT_FDCWD, staged.c_str(), AT_FDCWD, dest.c_str(), RENAME_NOREPLACE) == 0) {
    fsync_folder(parent);
    return;
  }
  if (errno == EEXIST) {
    if (::renameat2(AT_FDCWD, staged.c_str(), AT_FDCWD, dest.c_str(), RENAME_EXCHANGE) == 0) {
      fsync_folder(parent);
      std::error_code ec;
      fs::remove_all(staged, ec);  // the old folder
      return;
    }
  }
  if (errno != EINVAL && errno != ENOSYS && errno != ENOTSUP)
    throw IOError("cannot move '" + staged + "' to '" + dest + "': " + os_error());
  // No renameat2 flags on this file system: set the old folder aside, then rename.
  const std::string old = staged + ".old";
  std::error_code ec;
  if (fs::exists(dest, ec) && std::rename(dest.c_str(), old.c_str()) != 0)
    throw IOError("cannot move '" + dest + "' aside to '" + old + "': " + os_error());
  if (std::rename(staged.c_str(), dest.c_str()) != 0)
    throw IOError("cannot move '" + staged + "' to '" + dest + "': " + os_error());
  fsync_folder(parent);
  fs::remove_all(old, ec);
}

StagedFolder::StagedFolder(std::string dest, Existing existing, Owned owned)
    : dest_(std::move(dest)), existing_(existing), owned_(std::move(owned)) {
  while (dest_.size() > 1 && dest_.back() == '/') dest_.pop_back();
  const fs::path d(dest_);
  std::error_code ec;
  if (fs::exists(d, ec)) {
    if (!fs::is_directory(d)) throw IOError("'" + dest_ + "' exists and is not a folder; choose another --out");
    if (existing_ == Existing::Refuse && !fs::is_empty(d))
      throw IOError("'" + dest_ + "' already exists and is not empty; choose another --out or remove it");
    if (existing_ == Existing::Replace)
      for (const auto& e : fs::directory_iterator(d)) {
        const std::string n = e.path().filename().string();
        if (e.is_directory() && !(owned_ && owned_(n)))
          throw IOError("'" + dest_ + "' holds a folder '" + n + "' that this command does not write; it replaces '" + dest_ +
                        "' as a whole: choose another --out");
      }
  }
  const fs::path parent = d.has_parent_path() ? d.parent_path() : fs::path(".");
  if (!fs::is_directory(parent, ec)) {
    fs::create_directories(parent, ec);
    if (ec) throw IOError("cannot create folder '" + parent.string() + "': " + ec.message());
  }
  static std::atomic<int> counter{0};
  const std::string prefix = "." + d.filename().string() + ".partial-";
  remove_stale_temporaries(parent.string(), prefix, ".partial-");  // left by a killed writer
  staging_ = (parent / (prefix + std::to_string(getpid()) + "-" + std::to_string(counter++))).string();
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
  std::error_code ec;
  if (existing_ == Existing::Refuse || !fs::exists(dest_, ec)) {
    // rename(2) replaces an empty destination folder and fails on a non-empty one, so a folder
    // that someone filled after the constructor's check is still never overwritten.
    if (std::rename(staging_.c_str(), dest_.c_str()) != 0)
      throw IOError("cannot move '" + staging_ + "' to '" + dest_ + "': " + std::strerror(errno));
    committed_ = true;
    fsync_folder(fs::path(dest_).parent_path());
    return;
  }
  // Replace: the old folder's other files come along (links: the old folder stays whole until
  // the exchange), except what killed writers left.
  for (const auto& e : fs::directory_iterator(dest_)) {
    const std::string n = e.path().filename().string();
    const fs::path to = fs::path(staging_) / n;
    if ((owned_ && owned_(n)) || e.is_directory() || fs::exists(to, ec) || is_stale_temporary(n, ".tmp.")) continue;
    fs::create_hard_link(e.path(), to, ec);
    if (ec) fs::copy_file(e.path(), to);
  }
  replace_folder(staging_, dest_);
  committed_ = true;
}

}  // namespace cornerstone::io
