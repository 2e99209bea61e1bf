#include "cornerstone/io/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "cornerstone/core/error.h"
#include "cornerstone/io/temporaries.h"

namespace cornerstone::io {

namespace {
std::string os_error(const std::string& what, const std::string& path) {
  return what + " '" + path + "': " + std::strerror(errno);
}
}  // namespace

AtomicFile::AtomicFile(std::string path) : path_(std::move(path)) {
  const std::filesystem::path p(path_);
  remove_stale_temporaries(p.parent_path().string(), p.filename().string() + ".tmp.", ".tmp.");  // of a killed writer
  tmp_ = path_ + ".tmp." + std::to_string(getpid());
  f_ = std::fopen(tmp_.c_str(), "wb");
  if (!f_) throw IOError(os_error("cannot create", tmp_));
}

AtomicFile::~AtomicFile() {
  if (f_) std::fclose(f_);
  if (!committed_) std::remove(tmp_.c_str());
}

void AtomicFile::write(const void* data, size_t n) {
  if (n && std::fwrite(data, 1, n, f_) != n) throw IOError(os_error("cannot write", tmp_));
}

void AtomicFile::commit() {
  if (std::fflush(f_) != 0 || fsync(fileno(f_)) != 0) throw IOError(os_error("cannot flush", tmp_));
  if (std::fclose(f_) != 0) {
    f_ = nullptr;
    throw IOError(os_error("cannot close", tmp_));
  }
  f_ = nullptr;
  if (std::rename(tmp_.c_str(), path_.c_str()) != 0) throw IOError(os_error("cannot rename onto", path_));
  committed_ = true;
  // Make the rename itself durable.
  std::string dir = std::filesystem::path(path_).parent_path().string();
  if (dir.empty()) dir = ".";
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd >= 0) {
    fsync(fd);
    ::close(fd);
  }
}

void write_file_atomic(const std::string& path, std::string_view contents) {
  AtomicFile f(path);
  f.write(contents);
  f.commit();
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw IOError(os_error("cannot open", path));
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) throw IOError("cannot read " + path + ": read error");
  return ss.str();
}

}  // namespace cornerstone::io
