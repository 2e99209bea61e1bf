#include "cornerstone/io/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "cornerstone/core/error.h"

namespace cornerstone::io {

MappedFile map_file(const std::string& path, const std::string& what) {
  const int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) throw IOError("cannot open '" + path + "': " + std::strerror(errno));
  struct stat st;
  if (fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    throw IOError("cannot stat '" + path + "': " + std::strerror(err));
  }
  if (S_ISDIR(st.st_mode)) {
    ::close(fd);
    throw IOError("'" + path + "' is a folder, not a " + what);
  }
  MappedFile f;
  f.size = static_cast<size_t>(st.st_size);
  if (f.size == 0) {
    ::close(fd);
    return f;
  }
  void* base = mmap(nullptr, f.size, PROT_READ, MAP_SHARED, fd, 0);
  const int err = errno;
  ::close(fd);
  if (base == MAP_FAILED) throw IOError("cannot map '" + path + "': " + std::strerror(err));
  const size_t size = f.size;
  f.mapping = std::shared_ptr<void>(base, [size](void* p) { munmap(p, size); });
  f.data = static_cast<const char*>(base);
  return f;
}

}  // namespace cornerstone::io
