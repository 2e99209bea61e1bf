#include "tokenize/file_io.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "cornerstone/core/error.h"
#include "cornerstone/io/atomic_file.h"

namespace cornerstone::tokenize {

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw IOError("cannot read " + path + ": " + std::strerror(errno));
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) throw IOError("cannot read " + path + ": read error");
  return ss.str();
}

// io's writer: one temporary naming scheme (PATH.tmp.<pid>), so the next write removes what a
// killed one left (io/temporaries.h).
void write_file_atomic(const std::string& path, std::string_view content) { io::write_file_atomic(path, content); }

}  // namespace cornerstone::tokenize
