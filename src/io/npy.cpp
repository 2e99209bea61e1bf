#include "cornerstone/io/npy.h"

#include <cstdint>
#include <cstring>
#include <regex>

#include "cornerstone/core/checked.h"
#include "cornerstone/core/error.h"
#include "cornerstone/io/atomic_file.h"

namespace cornerstone::io {

namespace {
constexpr char kMagic[] = "\x93NUMPY";
}

void save_npy(const std::string& path, const Tensor& matrix) {
  check_dtype(matrix, DType::F32, "save_npy", "matrix");
  check_ndim(matrix, 2, "save_npy", "matrix");
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + std::to_string(matrix.size(0)) + ", " +
                       std::to_string(matrix.size(1)) + "), }";
  const size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header += '\n';
  const uint16_t h = static_cast<uint16_t>(header.size());
  AtomicFile f(path);
  f.write(kMagic, 6);
  const unsigned char version_and_length[4] = {1, 0, static_cast<unsigned char>(h & 0xff), static_cast<unsigned char>(h >> 8)};
  f.write(version_and_length, 4);
  f.write(header);
  const Tensor c = matrix.contiguous();
  f.write(c.data<float>(), static_cast<size_t>(c.numel()) * sizeof(float));
  f.commit();
}

Tensor load_npy(const std::string& path) {
  const std::string bytes = read_file(path);
  if (bytes.size() < 10 || std::memcmp(bytes.data(), kMagic, 6) != 0) throw FormatError(path + ": not a .npy file (bad magic)");
  const size_t h = static_cast<unsigned char>(bytes[8]) | static_cast<size_t>(static_cast<unsigned char>(bytes[9])) << 8;
  if (bytes[6] != 1 || 10 + h > bytes.size()) throw FormatError(path + ": unsupported .npy version or truncated header");
  const std::string header = bytes.substr(10, h);
  std::smatch m;
  if (header.find("'descr': '<f4'") == std::string::npos || header.find("'fortran_order': False") == std::string::npos ||
      !std::regex_search(header, m, std::regex(R"('shape': \((\d+), (\d+)\))")))
    throw FormatError(path + ": expected a C-order float32 matrix, header " + header);
  // Digits only (the regex), but possibly more than 64 bits of them: checked before any use.
  uint64_t dims[2];
  for (int i = 0; i < 2; ++i) {
    const std::string digits = m[i + 1];
    if (digits.size() > 18) throw FormatError(path + ": dimension " + digits + " in the header is implausibly large");
    dims[i] = std::stoull(digits);
  }
  const uint64_t data_bytes = checked_mul(checked_mul(dims[0], dims[1], path + ": shape"), sizeof(float), path + ": shape");
  if (bytes.size() - 10 - h != data_bytes)
    throw FormatError(path + ": " + std::to_string(bytes.size() - 10 - h) + " data bytes for a (" + std::to_string(dims[0]) + ", " +
                      std::to_string(dims[1]) + ") float32 matrix");
  Tensor t = Tensor::empty({static_cast<int64_t>(dims[0]), static_cast<int64_t>(dims[1])});
  std::memcpy(t.data<float>(), bytes.data() + 10 + h, data_bytes);
  return t;
}

}  // namespace cornerstone::io
