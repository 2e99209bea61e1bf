// The safetensors format (Hugging Face): an 8-byte little-endian header length, a JSON header
// {"__metadata__": {...}, "<name>": {"dtype": "F32", "shape": [...], "data_offsets": [begin, end]}},
// then the raw little-endian tensor bytes. Files are memory-mapped: tensors read from them are
// zero-copy views that keep the mapping alive.
//
//   auto f = SafeTensorsFile::open("run/model.safetensors");
//   Tensor wte = f.get("transformer.wte.weight");            // (V, C) f32, no copy
//   save_safetensors("out.safetensors", {{"w", w}}, {{"format", "pt"}});  // atomic
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "cornerstone/core/tensor.h"

namespace cornerstone::io {

struct SafeTensorInfo {
  std::string dtype;  // as in the file: "F32", "BF16", "F16", "I32", "I64", "U8", ...
  Shape shape;
  size_t begin = 0, end = 0;  // byte offsets into the data section
};

class SafeTensorsFile {
 public:
  // Maps and validates the file: header size, JSON, every entry's dtype, shape and offsets.
  // Throws FormatError naming the file and the offending entry.
  static SafeTensorsFile open(const std::string& path);

  const std::string& path() const { return path_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  // Tensor names in file order (by data offset).
  std::vector<std::string> names() const;
  bool contains(const std::string& name) const { return entries_.count(name) != 0; }
  const SafeTensorInfo& info(const std::string& name) const;
  // A view of the tensor (F32, BF16, F16, I32, U8); other dtypes throw UnsupportedError.
  Tensor get(const std::string& name) const;

 private:
  std::string path_;
  std::shared_ptr<void> mapping_;
  const char* data_ = nullptr;  // start of the data section
  size_t data_size_ = 0;
  std::map<std::string, std::string> metadata_;
  std::map<std::string, SafeTensorInfo> entries_;
};

// Writes tensors (any layout; written contiguous) in the given order, atomically.
void save_safetensors(const std::string& path, const std::vector<std::pair<std::string, Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata = {});

// The same file from tensors made one at a time: the names, dtypes and shapes up front, then
// tensor_at(i) in order, each written and dropped before the next is asked for (a file larger
// than memory needs one tensor in memory at a time). A tensor unlike its layout throws.
struct TensorLayout {
  std::string name;
  DType dtype;
  Shape shape;
};
void save_safetensors_streamed(const std::string& path, const std::vector<TensorLayout>& layout,
                               const std::function<Tensor(size_t)>& tensor_at, const std::map<std::string, std::string>& metadata = {});

// "F32" <-> DType for the dtypes Cornerstone tensors hold.
std::string safetensors_dtype_name(DType t);

}  // namespace cornerstone::io
