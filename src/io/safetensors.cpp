#include "cornerstone/io/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>

#include "cornerstone/core/checked.h"
#include "cornerstone/core/error.h"
#include "cornerstone/io/mapped_file.h"
#include "cornerstone/io/atomic_file.h"

namespace cornerstone::io {

namespace {

constexpr uint64_t kMaxHeader = 100ull << 20;  // the reference implementation's limit

struct DTypeSpec {
  const char* name;
  size_t size;
};
constexpr DTypeSpec kDTypes[] = {{"F64", 8}, {"F32", 4}, {"F16", 2}, {"BF16", 2}, {"I64", 8}, {"I32", 4},
                                 {"I16", 2}, {"I8", 1},  {"U8", 1},  {"BOOL", 1}, {"U16", 2}, {"U32", 4},
                                 {"U64", 8}, {"F8_E4M3", 1}, {"F8_E5M2", 1}};

size_t element_size(const std::string& dtype) {
  for (const auto& d : kDTypes)
    if (dtype == d.name) return d.size;
  return 0;
}

}  // namespace

std::string safetensors_dtype_name(DType t) {
  switch (t) {
    case DType::F32: return "F32";
    case DType::BF16: return "BF16";
    case DType::F16: return "F16";
    case DType::I32: return "I32";
    case DType::U8: return "U8";
    default: throw UnsupportedError("safetensors: dtype " + std::string(dtype_name(t)) + " cannot be stored (quantized block types go to GGUF)");
  }
}

SafeTensorsFile SafeTensorsFile::open(const std::string& path) {
  SafeTensorsFile f;
  f.path_ = path;
  const MappedFile file = map_file(path, "safetensors file");
  const size_t size = file.size;
  if (size < 8) throw FormatError(path + ": not a safetensors file (" + std::to_string(size) + " bytes, too short for a header)");
  f.mapping_ = file.mapping;
  const void* base = file.data;

  uint64_t header_len;
  std::memcpy(&header_len, base, 8);
  if (header_len > kMaxHeader || header_len > size - 8)
    throw FormatError(path + ": header length " + std::to_string(header_len) + " exceeds the file size " +
                      std::to_string(size) + " (truncated or not a safetensors file)");
  const char* hdr = static_cast<const char*>(base) + 8;
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(hdr, hdr + header_len);
  } catch (const nlohmann::json::exception& e) {
    throw FormatError(path + ": header is not valid JSON: " + e.what());
  }
  if (!j.is_object()) throw FormatError(path + ": header is not a JSON object");
  f.data_ = hdr + header_len;
  f.data_size_ = size - 8 - header_len;

  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& name = it.key();
    if (name == "__metadata__") {
      if (!it->is_object()) throw FormatError(path + ": __metadata__ is not an object");
      for (auto m = it->begin(); m != it->end(); ++m) {
        if (!m->is_string()) throw FormatError(path + ": __metadata__." + m.key() + " is not a string");
        f.metadata_[m.key()] = m->get<std::string>();
      }
      continue;
    }
    const std::string where = path + ": tensor '" + name + "'";
    const auto& e = *it;
    if (!e.is_object() || !e.contains("dtype") || !e.contains("shape") || !e.contains("data_offsets"))
      throw FormatError(where + ": expected an object with dtype, shape and data_offsets");
    if (!e["dtype"].is_string()) throw FormatError(where + ": dtype is not a string");
    SafeTensorInfo info;
    info.dtype = e["dtype"].get<std::string>();
    const size_t es = element_size(info.dtype);
    if (!es) throw FormatError(where + ": unknown dtype '" + info.dtype + "'");
    if (!e["shape"].is_array() || e["shape"].size() > static_cast<size_t>(kMaxDims))
      throw FormatError(where + ": shape must be an array of at most " + std::to_string(kMaxDims) + " dimensions");
    std::vector<uint64_t> dims;
    for (const auto& d : e["shape"]) {
      if (!d.is_number_unsigned() || d.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX))
        throw FormatError(where + ": shape entries must be integers in [0, 2^63), got " + d.dump());
      dims.push_back(d.get<uint64_t>());
    }
    // Checked: [2^32, 2^32] of F32 would otherwise "need" 2^66 mod 2^64 = 0 bytes and pass.
    const uint64_t need = checked_mul(checked_product(dims, where + ": shape"), es, where + ": shape x dtype size");
    for (uint64_t d : dims) info.shape.push_back(static_cast<int64_t>(d));
    const auto& off = e["data_offsets"];
    if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() || !off[1].is_number_unsigned())
      throw FormatError(where + ": data_offsets must be [begin, end]");
    info.begin = off[0].get<size_t>(), info.end = off[1].get<size_t>();
    if (info.begin > info.end || info.end > f.data_size_)
      throw FormatError(where + ": data_offsets [" + std::to_string(info.begin) + ", " + std::to_string(info.end) +
                        "] exceed the " + std::to_string(f.data_size_) + " data bytes (truncated file?)");
    if (info.end - info.begin != need)
      throw FormatError(where + ": shape " + info.shape.str() + " of " + info.dtype + " needs " + std::to_string(need) +
                        " bytes, data_offsets span " + std::to_string(info.end - info.begin));
    f.entries_.emplace(name, std::move(info));
  }
  return f;
}

std::vector<std::string> SafeTensorsFile::names() const {
  std::vector<std::pair<size_t, std::string>> byoff;
  for (const auto& [n, i] : entries_) byoff.emplace_back(i.begin, n);
  std::sort(byoff.begin(), byoff.end());
  std::vector<std::string> out;
  for (auto& [o, n] : byoff) out.push_back(n);
  return out;
}

const SafeTensorInfo& SafeTensorsFile::info(const std::string& name) const {
  auto it = entries_.find(name);
  if (it == entries_.end()) throw FormatError(path_ + ": no tensor named '" + name + "'");
  return it->second;
}

Tensor SafeTensorsFile::get(const std::string& name) const {
  const SafeTensorInfo& i = info(name);
  DType dt;
  if (i.dtype == "F32") dt = DType::F32;
  else if (i.dtype == "BF16") dt = DType::BF16;
  else if (i.dtype == "F16") dt = DType::F16;
  else if (i.dtype == "I32") dt = DType::I32;
  else if (i.dtype == "U8") dt = DType::U8;
  else throw UnsupportedError(path_ + ": tensor '" + name + "' has dtype " + i.dtype + ", which Cornerstone does not load");
  auto storage = Storage::wrap(const_cast<char*>(data_) + i.begin, i.end - i.begin, mapping_);
  return Tensor::from_storage(std::move(storage), 0, i.shape, dt);
}

void save_safetensors(const std::string& path, const std::vector<std::pair<std::string, Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  std::vector<TensorLayout> layout;
  for (const auto& [name, t] : tensors) {
    check_defined(t, "save_safetensors", name.c_str());
    layout.push_back({name, t.dtype(), t.shape()});
  }
  save_safetensors_streamed(path, layout, [&](size_t i) { return tensors[i].second; }, metadata);
}

void save_safetensors_streamed(const std::string& path, const std::vector<TensorLayout>& layout,
                               const std::function<Tensor(size_t)>& tensor_at, const std::map<std::string, std::string>& metadata) {
  nlohmann::ordered_json header;
  if (!metadata.empty()) header["__metadata__"] = metadata;
  size_t offset = 0;
  for (const TensorLayout& l : layout) {
    if (header.contains(l.name)) throw ValueError("save_safetensors: duplicate tensor name '" + l.name + "'");
    nlohmann::json shape = nlohmann::json::array();
    for (int64_t d : l.shape) shape.push_back(d);
    const size_t bytes = dtype_bytes(l.dtype, l.shape.numel());
    header[l.name] = {{"dtype", safetensors_dtype_name(l.dtype)}, {"shape", shape}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string h = header.dump();
  h.append((8 - h.size() % 8) % 8, ' ');  // keep the data section 8-byte aligned
  const uint64_t len = h.size();
  AtomicFile f(path);
  f.write(&len, 8);
  f.write(h);
  for (size_t i = 0; i < layout.size(); ++i) {
    const Tensor t = tensor_at(i);
    check_defined(t, "save_safetensors", layout[i].name.c_str());
    if (t.dtype() != layout[i].dtype || t.shape() != layout[i].shape)
      throw ValueError("save_safetensors: '" + layout[i].name + "' is " + std::string(dtype_name(t.dtype())) + " " + t.shape().str() +
                       ", its layout said " + std::string(dtype_name(layout[i].dtype)) + " " + layout[i].shape.str());
    const Tensor c = t.contiguous();
    f.write(c.raw_data(), c.nbytes());
  }
  f.commit();
}

}  // namespace cornerstone::io
