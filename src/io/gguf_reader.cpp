// GGUFFile: maps a GGUF file and validates every byte of its header before anything is used.
// Every count and length read from the file is checked against the bytes that remain, so a
// truncated or hostile file fails with a message naming what was being read, never with an
// allocation of a bogus size or a read past the mapping.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>

#include "cornerstone/core/checked.h"
#include "cornerstone/core/error.h"
#include "cornerstone/io/mapped_file.h"
#include "cornerstone/io/gguf.h"

namespace cornerstone::io {

namespace {

constexpr int kMaxArrayNesting = 4;

// Bounds-checked little-endian reads from the mapped header.
class Cursor {
 public:
  Cursor(const char* base, uint64_t size, const std::string& path) : base_(base), size_(size), path_(path) {}

  uint64_t pos() const { return pos_; }
  uint64_t remaining() const { return size_ - pos_; }

  void need(uint64_t n, const std::string& what) const {
    if (n > remaining())
      throw FormatError(path_ + ": truncated file: " + what + " needs " + std::to_string(n) + " bytes at offset " +
                        std::to_string(pos_) + ", the file has " + std::to_string(remaining()) + " left");
  }
  template <typename T>
  T read(const std::string& what) {
    need(sizeof(T), what);
    T v;
    std::memcpy(&v, base_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }
  std::string read_string(const std::string& what) {
    const uint64_t n = read<uint64_t>(what + " (length)");
    need(n, what);
    std::string s(base_ + pos_, n);
    pos_ += n;
    return s;
  }

 private:
  const char* base_;
  uint64_t size_, pos_ = 0;
  const std::string& path_;
};

// Smallest encoding of one element of `t`, to bound array lengths by the bytes left.
uint64_t min_size(GGUFType t) {
  switch (t) {
    case GGUFType::U8: case GGUFType::I8: case GGUFType::Bool: return 1;
    case GGUFType::U16: case GGUFType::I16: return 2;
    case GGUFType::U32: case GGUFType::I32: case GGUFType::F32: return 4;
    case GGUFType::String: return 8;
    case GGUFType::Array: return 12;
    default: return 8;
  }
}

GGUFValue read_value(Cursor& c, uint32_t type, const std::string& what, int depth) {
  using V = GGUFValue::Variant;
  if (type >= kGGUFTypeCount) throw FormatError(what + " has unknown value type " + std::to_string(type));
  switch (static_cast<GGUFType>(type)) {
    case GGUFType::U8: return GGUFValue(V(std::in_place_type<uint8_t>, c.read<uint8_t>(what)));
    case GGUFType::I8: return GGUFValue(V(std::in_place_type<int8_t>, c.read<int8_t>(what)));
    case GGUFType::U16: return GGUFValue(V(std::in_place_type<uint16_t>, c.read<uint16_t>(what)));
    case GGUFType::I16: return GGUFValue(V(std::in_place_type<int16_t>, c.read<int16_t>(what)));
    case GGUFType::U32: return GGUFValue(V(std::in_place_type<uint32_t>, c.read<uint32_t>(what)));
    case GGUFType::I32: return GGUFValue(V(std::in_place_type<int32_t>, c.read<int32_t>(what)));
    case GGUFType::F32: return GGUFValue(V(std::in_place_type<float>, c.read<float>(what)));
    case GGUFType::U64: return GGUFValue(V(std::in_place_type<uint64_t>, c.read<uint64_t>(what)));
    case GGUFType::I64: return GGUFValue(V(std::in_place_type<int64_t>, c.read<int64_t>(what)));
    case GGUFType::F64: return GGUFValue(V(std::in_place_type<double>, c.read<double>(what)));
    case GGUFType::Bool: {
      const uint8_t b = c.read<uint8_t>(what);
      if (b > 1) throw FormatError(what + ": bool must be 0 or 1, is " + std::to_string(b));
      return GGUFValue::boolean(b != 0);
    }
    case GGUFType::String: return GGUFValue::string(c.read_string(what));
    case GGUFType::Array: {
      if (depth >= kMaxArrayNesting) throw FormatError(what + ": arrays nested deeper than " + std::to_string(kMaxArrayNesting));
      const uint32_t elem = c.read<uint32_t>(what + " (element type)");
      if (elem >= kGGUFTypeCount) throw FormatError(what + ": array of unknown value type " + std::to_string(elem));
      const uint64_t n = c.read<uint64_t>(what + " (length)");
      if (n > c.remaining() / min_size(static_cast<GGUFType>(elem)))
        throw FormatError(what + ": array of " + std::to_string(n) + " " + std::string(gguf_type_name(static_cast<GGUFType>(elem))) +
                          " does not fit in the " + std::to_string(c.remaining()) + " bytes left (truncated file?)");
      GGUFArray a{static_cast<GGUFType>(elem), {}};
      a.items.reserve(n);
      for (uint64_t i = 0; i < n; ++i) a.items.push_back(read_value(c, elem, what + "[" + std::to_string(i) + "]", depth + 1));
      return GGUFValue(V(std::in_place_type<GGUFArray>, std::move(a)));
    }
  }
  throw FormatError(what + " has unknown value type " + std::to_string(type));
}

}  // namespace

Shape GGUFTensorInfo::shape() const {
  Shape s;
  for (auto it = dims.rbegin(); it != dims.rend(); ++it) s.push_back(static_cast<int64_t>(*it));
  return s;
}

GGUFFile GGUFFile::open(const std::string& path) {
  GGUFFile f;
  f.path_ = path;
  const MappedFile file = map_file(path, "GGUF file");
  f.size_ = static_cast<uint64_t>(file.size);
  if (f.size_ < 8) throw FormatError(path + ": not a GGUF file (" + std::to_string(f.size_) + " bytes, too short for a header)");
  f.mapping_ = file.mapping;
  f.base_ = file.data;

  Cursor c(f.base_, f.size_, f.path_);
  if (std::memcmp(f.base_, "GGUF", 4) != 0) {
    std::string magic;
    for (int i = 0; i < 4; ++i) magic += std::isprint(static_cast<unsigned char>(f.base_[i])) ? f.base_[i] : '?';
    throw FormatError(path + ": not a GGUF file (magic is '" + magic + "', expected 'GGUF')");
  }
  c.read<uint32_t>("magic");
  f.version_ = c.read<uint32_t>("version");
  if (f.version_ != 2 && f.version_ != 3) {
    if ((f.version_ & 0xFFFF) == 0 && f.version_ != 0)
      throw FormatError(path + ": GGUF version bytes read as " + std::to_string(f.version_) +
                        ": a big-endian file? Only little-endian GGUF is supported");
    throw FormatError(path + ": GGUF version " + std::to_string(f.version_) +
                      " is not supported (2 and 3 are); convert the file with a current llama.cpp");
  }
  const uint64_t n_tensors = c.read<uint64_t>("tensor count");
  const uint64_t n_kv = c.read<uint64_t>("metadata count");
  // Each metadata entry takes at least 8 (key length) + 4 (type) + 1 bytes, each tensor info 8 + 4 + 4 + 8.
  if (n_kv > c.remaining() / 13)
    throw FormatError(path + ": header claims " + std::to_string(n_kv) + " metadata entries, more than the file can hold (truncated or corrupt)");
  if (n_tensors > c.remaining() / 24)
    throw FormatError(path + ": header claims " + std::to_string(n_tensors) + " tensors, more than the file can hold (truncated or corrupt)");

  for (uint64_t i = 0; i < n_kv; ++i) {
    const std::string key = c.read_string("metadata key " + std::to_string(i));
    const std::string what = path + ": metadata '" + key + "'";
    if (f.index_.count(key)) throw FormatError(what + " appears twice");
    const uint32_t type = c.read<uint32_t>(what + " (value type)");
    GGUFValue v = read_value(c, type, what, 0);
    f.index_.emplace(key, f.metadata_.size());
    f.metadata_.emplace_back(key, std::move(v));
  }
  if (const GGUFValue* a = f.find("general.alignment")) {
    if (a->type() != GGUFType::U32) throw FormatError(f.where("general.alignment") + " should be uint32, is " + a->type_str());
    f.alignment_ = std::get<uint32_t>(a->variant());
    if (f.alignment_ == 0 || (f.alignment_ & (f.alignment_ - 1)) != 0)
      throw FormatError(f.where("general.alignment") + " must be a power of two, is " + std::to_string(f.alignment_));
  }

  for (uint64_t i = 0; i < n_tensors; ++i) {
    GGUFTensorInfo t;
    t.name = c.read_string("tensor info " + std::to_string(i) + " name");
    const std::string what = path + ": tensor '" + t.name + "'";
    if (t.name.size() > kGGUFMaxTensorName + 1)
      throw FormatError(what + ": name is " + std::to_string(t.name.size()) + " bytes, longer than GGUF's 64");
    if (f.tensor_index_.count(t.name)) throw FormatError(what + " appears twice");
    const uint32_t n_dims = c.read<uint32_t>(what + " (n_dims)");
    if (n_dims == 0 || n_dims > kGGUFMaxDims)
      throw FormatError(what + " has " + std::to_string(n_dims) + " dimensions (1 to " + std::to_string(kGGUFMaxDims) + " allowed)");
    uint64_t numel = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      const uint64_t n = c.read<uint64_t>(what + " (dims)");
      if (n > (uint64_t{1} << 40) || (n && numel > (uint64_t{1} << 62) / n))
        throw FormatError(what + ": dimension " + std::to_string(n) + " is implausibly large (corrupt file?)");
      numel *= n;
      t.dims.push_back(n);
    }
    t.type = c.read<uint32_t>(what + " (type)");
    const auto info = ggml_type_info(t.type);
    if (!info) throw FormatError(what + " has unknown ggml type " + std::to_string(t.type));
    if (t.dims[0] % info->block_size != 0)
      throw FormatError(what + ": row length " + std::to_string(t.dims[0]) + " is not a multiple of the " +
                        std::string(info->name) + " block size " + std::to_string(info->block_size));
    // Checked: 2^31 x 2^31 f32 is 2^62 elements, 2^64 bytes, which would wrap to 0 and pass every bounds check.
    t.nbytes = checked_mul(numel / info->block_size, info->block_bytes, what + ": byte size");
    t.offset = c.read<uint64_t>(what + " (offset)");
    if (t.offset % f.alignment_ != 0)
      throw FormatError(what + ": data offset " + std::to_string(t.offset) + " is not a multiple of the alignment " +
                        std::to_string(f.alignment_));
    f.tensor_index_.emplace(t.name, f.tensors_.size());
    f.tensors_.push_back(std::move(t));
  }
  const uint64_t a = f.alignment_;
  f.data_offset_ = (c.pos() + a - 1) / a * a;

  // Every tensor's bytes lie inside the file and no two tensors share bytes.
  std::vector<const GGUFTensorInfo*> by_offset;
  for (const auto& t : f.tensors_) {
    if (f.data_offset_ > f.size_ || !range_within(t.offset, t.nbytes, f.size_ - f.data_offset_))
      throw FormatError(path + ": tensor '" + t.name + "' data [" + std::to_string(t.offset) + ", " +
                        (t.offset + t.nbytes < t.offset ? std::string("beyond 2^64") : std::to_string(t.offset + t.nbytes)) +
                        ") of the data section runs past the end of the file (" +
                        std::to_string(f.size_) + " bytes; truncated?)");
    by_offset.push_back(&t);
  }
  std::sort(by_offset.begin(), by_offset.end(), [](auto* x, auto* y) { return x->offset < y->offset; });
  for (size_t i = 1; i < by_offset.size(); ++i)
    if (by_offset[i - 1]->offset + by_offset[i - 1]->nbytes > by_offset[i]->offset)
      throw FormatError(path + ": tensors '" + by_offset[i - 1]->name + "' and '" + by_offset[i]->name + "' overlap");
  return f;
}

const GGUFValue* GGUFFile::find(const std::string& key) const {
  auto it = index_.find(key);
  return it == index_.end() ? nullptr : &metadata_[it->second].second;
}

const GGUFValue& GGUFFile::get(const std::string& key) const {
  const GGUFValue* v = find(key);
  if (!v) throw FormatError(path_ + ": missing metadata key '" + key + "'");
  return *v;
}

std::string GGUFFile::where(const std::string& key) const { return path_ + ": metadata '" + key + "'"; }
uint64_t GGUFFile::get_uint(const std::string& key) const { return get(key).as_uint(where(key)); }
double GGUFFile::get_float(const std::string& key) const { return get(key).as_float(where(key)); }
const std::string& GGUFFile::get_string(const std::string& key) const { return get(key).as_string(where(key)); }

const GGUFTensorInfo* GGUFFile::find_tensor(const std::string& name) const {
  auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

Tensor GGUFFile::tensor(const std::string& name) const {
  const GGUFTensorInfo* t = find_tensor(name);
  if (!t) throw FormatError(path_ + ": no tensor named '" + name + "'");
  const auto dt = dtype_of_ggml(static_cast<GGMLType>(t->type));
  if (!dt)
    throw UnsupportedError(path_ + ": tensor '" + name + "' is " + ggml_type_name(t->type) +
                           ", which Cornerstone cannot load (f32, f16, bf16, q8_0 and q4_0 are supported); re-quantize "
                           "the model to one of those with llama.cpp's llama-quantize");
  auto storage = Storage::wrap(const_cast<char*>(tensor_data(*t)), t->nbytes, mapping_);
  return Tensor::from_storage(std::move(storage), 0, t->shape(), *dt);
}

}  // namespace cornerstone::io
