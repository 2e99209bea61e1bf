// GGUF (version 3, ggml's docs/gguf.md): the single-file model format of llama.cpp.
//
//   "GGUF" | u32 version | u64 tensor_count | u64 kv_count
//   kv_count x (string key, u32 type, value)                    metadata (io/gguf_value.h)
//   tensor_count x (string name, u32 n_dims, u64 dims[n_dims], u32 ggml type, u64 offset)
//   zero padding to `general.alignment` (default 32)
//   tensor data: each tensor at its offset (relative to this point, a multiple of the alignment)
//
// All little-endian; strings are u64 length + bytes. Dimensions are listed fastest-varying first:
// a PyTorch (out, in) weight has dims [in, out]. Here shapes are PyTorch order (`Shape`) and the
// reversal happens at the file boundary.
//
//   auto f = GGUFFile::open("model.gguf");                       // mmap + full validation
//   f.get_string("general.architecture");                        // "llama"
//   Tensor w = f.tensor("blk.0.attn_q.weight");                  // (out, in) view, no copy
//
//   GGUFWriter w;
//   w.set("general.architecture", GGUFValue::string("llama"));
//   w.add_tensor("token_embd.weight", ops::quantize(wte, DType::Q8_0));
//   w.write("out.gguf");                                          // atomic
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "cornerstone/core/tensor.h"
#include "cornerstone/io/ggml_type.h"
#include "cornerstone/io/gguf_value.h"

namespace cornerstone::io {

inline constexpr uint32_t kGGUFVersion = 3;
inline constexpr uint32_t kGGUFDefaultAlignment = 32;
inline constexpr size_t kGGUFMaxTensorName = 63;  // ggml's GGML_MAX_NAME (64) minus the NUL
inline constexpr int kGGUFMaxDims = 4;            // GGML_MAX_DIMS

struct GGUFTensorInfo {
  std::string name;
  std::vector<uint64_t> dims;  // as stored: fastest-varying first (dims[0] = row length)
  uint32_t type = 0;           // ggml type code (io/ggml_type.h)
  uint64_t offset = 0;         // relative to the start of the tensor data section
  uint64_t nbytes = 0;
  // PyTorch-order shape (dims reversed).
  Shape shape() const;
};

class GGUFFile {
 public:
  // Maps and validates the whole header: magic, version (2 or 3), every metadata value, every
  // tensor info (name, dims, type, alignment of its offset, data inside the file, no overlap).
  // Throws FormatError naming the file and the key or tensor at fault, IOError when unreadable.
  static GGUFFile open(const std::string& path);

  const std::string& path() const { return path_; }
  uint32_t version() const { return version_; }
  uint32_t alignment() const { return alignment_; }
  uint64_t data_offset() const { return data_offset_; }  // file offset of the tensor data section
  uint64_t file_size() const { return size_; }

  // Metadata in file order.
  const std::vector<std::pair<std::string, GGUFValue>>& metadata() const { return metadata_; }
  bool contains(const std::string& key) const { return index_.count(key) != 0; }
  const GGUFValue* find(const std::string& key) const;
  // The value; throws FormatError "<file>: missing metadata key '<key>'" when absent.
  const GGUFValue& get(const std::string& key) const;
  uint64_t get_uint(const std::string& key) const;
  double get_float(const std::string& key) const;
  const std::string& get_string(const std::string& key) const;
  // "<file>: metadata '<key>'", for the errors of typed reads.
  std::string where(const std::string& key) const;

  // Tensor infos in file order.
  const std::vector<GGUFTensorInfo>& tensors() const { return tensors_; }
  const GGUFTensorInfo* find_tensor(const std::string& name) const;
  // A zero-copy view (PyTorch-order shape) of an f32 / f16 / bf16 / q8_0 / q4_0 tensor; throws
  // FormatError for an unknown name and UnsupportedError (naming tensor and type) for other types.
  Tensor tensor(const std::string& name) const;
  // The raw bytes of a tensor's data (any type).
  const char* tensor_data(const GGUFTensorInfo& info) const { return base_ + data_offset_ + info.offset; }

 private:
  std::string path_;
  std::shared_ptr<void> mapping_;
  const char* base_ = nullptr;
  uint64_t size_ = 0;
  uint32_t version_ = 0, alignment_ = kGGUFDefaultAlignment;
  uint64_t data_offset_ = 0;
  std::vector<std::pair<std::string, GGUFValue>> metadata_;
  std::map<std::string, size_t> index_;
  std::vector<GGUFTensorInfo> tensors_;
  std::map<std::string, size_t> tensor_index_;
};

class GGUFWriter {
 public:
  // `alignment`: a power of two; written as general.alignment.
  explicit GGUFWriter(uint32_t alignment = kGGUFDefaultAlignment);

  // Sets a metadata value (a key set twice keeps its first position and the last value).
  void set(const std::string& key, GGUFValue value);
  const GGUFValue* find(const std::string& key) const;
  // Adds a tensor (PyTorch-order shape, f32 / f16 / bf16 / q8_0 / q4_0). Throws ValueError for a
  // duplicate or over-long name, ShapeError when a block type's rows are not whole blocks.
  void add_tensor(const std::string& name, const Tensor& t);

  // The tensor table as write() lays it out (offsets relative to the data section).
  std::vector<GGUFTensorInfo> tensor_infos() const;
  const std::vector<std::pair<std::string, GGUFValue>>& metadata() const { return metadata_; }
  // Writes the file atomically (temporary file, fsync, rename).
  void write(const std::string& path) const;

 private:
  uint32_t alignment_;
  std::vector<std::pair<std::string, GGUFValue>> metadata_;
  std::vector<std::pair<std::string, Tensor>> tensors_;
};

}  // namespace cornerstone::io
