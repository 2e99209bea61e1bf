// Crash-safe file writing: data goes to a temporary file in the same folder, is fsync'ed, then
// renamed over the destination (and the folder fsync'ed), so a reader sees either the old file or
// the complete new one, never a torn write. A writer destroyed without commit() removes its
// temporary file and leaves the destination untouched. A killed writer's temporary
// (PATH.tmp.<pid>) is removed by the next AtomicFile for the same path (io/temporaries.h).
//
//   AtomicFile f("run/model.safetensors");
//   f.write(header.data(), header.size());
//   f.write(data, n);
//   f.commit();
#pragma once

#include <cstddef>
#include <cstdio>
#include <string>
#include <string_view>

namespace cornerstone::io {

class AtomicFile {
 public:
  explicit AtomicFile(std::string path);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  void write(const void* data, size_t n);
  void write(std::string_view s) { write(s.data(), s.size()); }
  void commit();
  const std::string& path() const { return path_; }

 private:
  std::string path_, tmp_;
  FILE* f_ = nullptr;
  bool committed_ = false;
};

// Writes a whole file atomically.
void write_file_atomic(const std::string& path, std::string_view contents);
// Reads a whole file; throws IOError naming the path.
std::string read_file(const std::string& path);

}  // namespace cornerstone::io
