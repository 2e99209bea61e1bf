// Hand-crafted hostile files for the io parsers: sizes whose products wrap around 64 bits,
// offsets outside the file, digits beyond 64 bits. Each of these opened (or crashed) before the
// size arithmetic was checked (core/checked.h); now each fails with a FormatError that names the
// file and the field.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

#include "cornerstone/core/checked.h"
#include "cornerstone/core/error.h"
#include "cornerstone/io/gguf.h"
#include "cornerstone/io/npy.h"
#include "cornerstone/io/safetensors.h"

using namespace cornerstone;
namespace fs = std::filesystem;

namespace {

fs::path hostile_dir() {
  fs::path d = fs::temp_directory_path() / ("cs_hostile_" + std::to_string(::getpid()));
  fs::create_directories(d);
  return d;
}

std::string write(const std::string& name, const std::string& bytes) {
  const std::string p = (hostile_dir() / name).string();
  std::ofstream(p, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  return p;
}

template <typename T>
void put(std::string& s, T v) {
  s.append(reinterpret_cast<const char*>(&v), sizeof v);
}

std::string safetensors_bytes(const std::string& header, size_t data_bytes) {
  std::string s;
  put<uint64_t>(s, header.size());
  s += header;
  s.append(data_bytes, '\0');
  return s;
}

// A GGUF v3 file with no metadata and one tensor info; `data_bytes` zero bytes after the padding.
std::string gguf_bytes(const std::vector<uint64_t>& dims, uint32_t type, uint64_t offset, size_t data_bytes) {
  std::string s = "GGUF";
  put<uint32_t>(s, 3);
  put<uint64_t>(s, 1);  // tensors
  put<uint64_t>(s, 0);  // metadata
  put<uint64_t>(s, 1);
  s += "w";
  put<uint32_t>(s, static_cast<uint32_t>(dims.size()));
  for (uint64_t d : dims) put<uint64_t>(s, d);
  put<uint32_t>(s, type);
  put<uint64_t>(s, offset);
  s.append((32 - s.size() % 32) % 32, '\0');
  s.append(data_bytes, '\0');
  return s;
}

void expect_format_error(const std::function<void()>& f, const std::string& what) {
  try {
    f();
    ADD_FAILURE() << "opened; expected a FormatError containing: " << what;
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
  }
}

}  // namespace

TEST(CheckedSizes, ProductsSumsAndRanges) {
  EXPECT_EQ(checked_mul(1ull << 31, 1ull << 31, "x"), 1ull << 62);
  EXPECT_THROW(checked_mul(1ull << 32, 1ull << 32, "x"), FormatError);
  EXPECT_THROW(checked_add(~0ull, 1, "x"), FormatError);
  EXPECT_THROW(checked_product({1ull << 31, 1ull << 31, 4}, "x"), FormatError);
  EXPECT_EQ(checked_product({}, "x"), 1u);
  EXPECT_TRUE(range_within(10, 0, 10));
  EXPECT_FALSE(range_within(11, 0, 10));
  EXPECT_FALSE(range_within(8, ~0ull - 4, 10));  // offset + length wraps to 3: inside, if unchecked
  EXPECT_THROW(check_range(8, ~0ull - 4, 10, "x"), FormatError);
  EXPECT_THROW(check_limit(5000, 1, 4096, "model config: n_layers"), ValueError);
  try {
    check_limit(5000, 1, 4096, "model config: n_layers");
  } catch (const ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("n_layers = 5000 is outside the supported range [1, 4096]"), std::string::npos) << e.what();
  }
}

TEST(CheckedSizes, ShapeNumelRefusesOverflow) {
  Shape s{int64_t{1} << 32, int64_t{1} << 32};
  EXPECT_THROW(s.numel(), ShapeError);
}

// [2^32, 2^32] F32 "needs" 2^66 bytes = 0 mod 2^64: with data_offsets [0, 0] it used to open and
// hand out a (2^32, 2^32) view of zero bytes.
TEST(HostileSafeTensors, ShapeProductWrappingToZeroIsRefused) {
  const std::string p = write("wrap.safetensors",
                              safetensors_bytes(R"({"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,0]}})", 0));
  expect_format_error([&] { io::SafeTensorsFile::open(p); }, "overflows 64 bits");
  // 2^62 x 4 bytes wraps the same way through the dtype size, not the shape.
  const std::string q = write("wrap2.safetensors",
                              safetensors_bytes(R"({"w":{"dtype":"F32","shape":[4611686018427387904],"data_offsets":[0,0]}})", 0));
  expect_format_error([&] { io::SafeTensorsFile::open(q); }, "tensor 'w': shape x dtype size");
}

TEST(HostileSafeTensors, DimensionBeyondInt64IsRefused) {
  const std::string p = write("neg.safetensors",
                              safetensors_bytes(R"({"w":{"dtype":"F32","shape":[0,18446744073709551615],"data_offsets":[0,0]}})", 0));
  expect_format_error([&] { io::SafeTensorsFile::open(p); }, "shape entries must be integers in [0, 2^63)");
}

TEST(HostileSafeTensors, OffsetsOutsideTheFileAreRefused) {
  const std::string p = write("off.safetensors",
                              safetensors_bytes(R"({"w":{"dtype":"U8","shape":[4],"data_offsets":[18446744073709551614,2]}})", 4));
  expect_format_error([&] { io::SafeTensorsFile::open(p); }, "data_offsets");
  const std::string q = write("off2.safetensors", safetensors_bytes(R"({"w":{"dtype":"U8","shape":[8],"data_offsets":[0,8]}})", 4));
  expect_format_error([&] { io::SafeTensorsFile::open(q); }, "exceed the 4 data bytes");
}

// dims [2^31, 2^31] f32: 2^62 elements pass the per-dimension limits, and 2^62 x 4 bytes wrapped
// to 0, so the tensor "fit" in an empty data section and tensor("w") was a view of nothing.
TEST(HostileGGUF, ByteSizeWrappingToZeroIsRefused) {
  const std::string p = write("wrap.gguf", gguf_bytes({1ull << 31, 1ull << 31}, /*f32*/ 0, 0, 0));
  expect_format_error([&] { io::GGUFFile::open(p); }, "tensor 'w': byte size");
}

TEST(HostileGGUF, OffsetsOutsideTheFileAreRefused) {
  const std::string p = write("off.gguf", gguf_bytes({8}, 0, ~0ull - 31, 32));
  expect_format_error([&] { io::GGUFFile::open(p); }, "runs past the end of the file");
  const std::string q = write("off2.gguf", gguf_bytes({16}, 0, 32, 64));  // 64 bytes at 32: 32 short
  expect_format_error([&] { io::GGUFFile::open(q); }, "runs past the end of the file");
  const std::string ok = write("ok.gguf", gguf_bytes({16}, 0, 0, 64));
  EXPECT_EQ(io::GGUFFile::open(ok).tensor("w").numel(), 16);
}

TEST(HostileGGUF, HugeCountsAreRefusedBeforeAllocating) {
  std::string s = "GGUF";
  put<uint32_t>(s, 3);
  put<uint64_t>(s, ~0ull);  // tensors
  put<uint64_t>(s, 0);
  expect_format_error([&] { io::GGUFFile::open(write("count.gguf", s)); }, "tensors, more than the file can hold");
  std::string t = "GGUF";
  put<uint32_t>(t, 3);
  put<uint64_t>(t, 0);
  put<uint64_t>(t, 1);
  put<uint64_t>(t, 1);
  t += "k";
  put<uint32_t>(t, 9);  // array
  put<uint32_t>(t, 8);  // of strings
  put<uint64_t>(t, 1ull << 60);
  expect_format_error([&] { io::GGUFFile::open(write("array.gguf", t)); }, "does not fit");
  std::string u = "GGUF";
  put<uint32_t>(u, 3);
  put<uint64_t>(u, 0);
  put<uint64_t>(u, 1);
  put<uint64_t>(u, ~0ull);  // key length
  u.append(16, '\0');       // enough bytes for one entry's minimum, far too few for the key
  expect_format_error([&] { io::GGUFFile::open(write("string.gguf", u)); }, "truncated file");
}

// shape (2^59, 8): rows * cols * 4 bytes = 2^64 wrapped to 0 and matched an empty data section.
TEST(HostileNpy, ShapeProductOverflowIsRefused) {
  auto npy = [](const std::string& shape) {
    std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + shape + "), }";
    header.append((64 - (10 + header.size() + 1) % 64) % 64, ' ');
    header += '\n';
    std::string s = "\x93NUMPY";
    s += '\x01';
    s += '\x00';
    put<uint16_t>(s, static_cast<uint16_t>(header.size()));
    return s + header;
  };
  expect_format_error([&] { io::load_npy(write("wrap.npy", npy("576460752303423488, 8"))); }, "overflows 64 bits");
  expect_format_error([&] { io::load_npy(write("digits.npy", npy("99999999999999999999999, 1"))); }, "implausibly large");
}
