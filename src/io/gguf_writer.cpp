// GGUFWriter: builds the header in memory (metadata and tensor infos are small next to the
// weights), then streams header, padding and each tensor's bytes through an AtomicFile.
#include <type_traits>
#include <variant>

#include "cornerstone/core/error.h"
#include "cornerstone/io/atomic_file.h"
#include "cornerstone/io/gguf.h"

namespace cornerstone::io {

namespace {

uint64_t align_up(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

template <typename T>
void put(std::string& out, T v) {
  out.append(reinterpret_cast<const char*>(&v), sizeof v);
}

void put_string(std::string& out, const std::string& s) {
  put<uint64_t>(out, s.size());
  out += s;
}

void put_value(std::string& out, const GGUFValue& v) {
  std::visit(
      [&](const auto& x) {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, std::string>) {
          put_string(out, x);
        } else if constexpr (std::is_same_v<T, GGUFArray>) {
          put<uint32_t>(out, static_cast<uint32_t>(x.type));
          put<uint64_t>(out, x.items.size());
          for (const auto& item : x.items) put_value(out, item);
        } else if constexpr (std::is_same_v<T, bool>) {
          put<uint8_t>(out, x ? 1 : 0);
        } else {
          put<T>(out, x);
        }
      },
      v.variant());
}

}  // namespace

GGUFWriter::GGUFWriter(uint32_t alignment) : alignment_(alignment) {
  if (alignment == 0 || (alignment & (alignment - 1)) != 0)
    throw ValueError("GGUFWriter: alignment must be a power of two, got " + std::to_string(alignment));
  set("general.alignment", GGUFValue::u32(alignment));
}

void GGUFWriter::set(const std::string& key, GGUFValue value) {
  if (key == "general.alignment" && !(value == GGUFValue::u32(alignment_)))
    throw ValueError("GGUFWriter: general.alignment is fixed by the constructor (" + std::to_string(alignment_) + ")");
  for (auto& [k, v] : metadata_)
    if (k == key) {
      v = std::move(value);
      return;
    }
  metadata_.emplace_back(key, std::move(value));
}

const GGUFValue* GGUFWriter::find(const std::string& key) const {
  for (const auto& [k, v] : metadata_)
    if (k == key) return &v;
  return nullptr;
}

void GGUFWriter::add_tensor(const std::string& name, const Tensor& t) {
  check_defined(t, "GGUFWriter::add_tensor", name.c_str());
  if (name.empty() || name.size() > kGGUFMaxTensorName)
    throw ValueError("GGUF: tensor name '" + name + "' must be 1 to " + std::to_string(kGGUFMaxTensorName) + " bytes");
  for (const auto& [n, x] : tensors_)
    if (n == name) throw ValueError("GGUF: tensor '" + name + "' added twice");
  ggml_type_of(t.dtype());  // throws for dtypes GGUF does not get from us
  if (t.ndim() < 1 || t.ndim() > kGGUFMaxDims)
    throw ShapeError("GGUF: tensor '" + name + "' " + t.shape().str() + " must have 1 to 4 dimensions");
  const int64_t row = t.size(t.ndim() - 1), block = static_cast<int64_t>(dtype_info(t.dtype()).block_size);
  if (row % block != 0)
    throw ShapeError("GGUF: tensor '" + name + "' " + t.shape().str() + ": rows of " + std::to_string(row) +
                     " are not whole " + std::string(dtype_name(t.dtype())) + " blocks of " + std::to_string(block));
  tensors_.emplace_back(name, t.contiguous());
}

std::vector<GGUFTensorInfo> GGUFWriter::tensor_infos() const {
  std::vector<GGUFTensorInfo> out;
  uint64_t offset = 0;
  for (const auto& [name, t] : tensors_) {
    GGUFTensorInfo info;
    info.name = name;
    for (int d = t.ndim() - 1; d >= 0; --d) info.dims.push_back(static_cast<uint64_t>(t.size(d)));
    info.type = static_cast<uint32_t>(ggml_type_of(t.dtype()));
    info.offset = offset;
    info.nbytes = t.nbytes();
    offset = align_up(offset + info.nbytes, alignment_);
    out.push_back(std::move(info));
  }
  return out;
}

void GGUFWriter::write(const std::string& path) const {
  const auto infos = tensor_infos();
  std::string header;
  header += "GGUF";
  put<uint32_t>(header, kGGUFVersion);
  put<uint64_t>(header, tensors_.size());
  put<uint64_t>(header, metadata_.size());
  for (const auto& [key, value] : metadata_) {
    put_string(header, key);
    put<uint32_t>(header, static_cast<uint32_t>(value.type()));
    put_value(header, value);
  }
  for (const auto& info : infos) {
    put_string(header, info.name);
    put<uint32_t>(header, static_cast<uint32_t>(info.dims.size()));
    for (uint64_t d : info.dims) put<uint64_t>(header, d);
    put<uint32_t>(header, info.type);
    put<uint64_t>(header, info.offset);
  }
  header.resize(align_up(header.size(), alignment_), '\0');

  AtomicFile f(path);
  f.write(header);
  const std::string zeros(alignment_, '\0');
  for (size_t i = 0; i < tensors_.size(); ++i) {
    const Tensor& t = tensors_[i].second;
    f.write(t.raw_data(), t.nbytes());
    f.write(zeros.data(), align_up(t.nbytes(), alignment_) - t.nbytes());
  }
  f.commit();
}

}  // namespace cornerstone::io
