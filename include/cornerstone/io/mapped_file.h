// A whole file mapped read-only into memory: the one way safetensors, GGUF and token shards open
// their files. Copies share the mapping, which is unmapped when the last copy goes.
//
//   const io::MappedFile f = io::map_file("model.safetensors", "safetensors file");
//   if (f.size < 8) throw FormatError(...);      // the format's own checks on f.data, f.size
#pragma once

#include <cstddef>
#include <memory>
#include <string>

namespace cornerstone::io {

struct MappedFile {
  std::shared_ptr<void> mapping;  // null for an empty file
  const char* data = nullptr;     // size bytes (null when empty)
  size_t size = 0;
};

// Throws IOError naming the file when it cannot be opened, read or mapped, and when it is a folder
// ("'<path>' is a folder, not a <what>"). An empty file maps to {null, 0}.
MappedFile map_file(const std::string& path, const std::string& what);

}  // namespace cornerstone::io
