#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "cornerstone/core/error.h"
#include "cornerstone/core/rng.h"
#include "cornerstone/io/atomic_file.h"
#include "cornerstone/io/safetensors.h"
#include "test_util.h"

using namespace cornerstone;
namespace fs = std::filesystem;

namespace {
fs::path temp_dir() {
  fs::path d = fs::temp_directory_path() / ("cs_io_" + std::to_string(::getpid()));
  fs::create_directories(d);
  return d;
}

std::string write_raw(const fs::path& p, const std::string& header, const std::string& data) {
  std::ofstream f(p, std::ios::binary);
  const uint64_t n = header.size();
  f.write(reinterpret_cast<const char*>(&n), 8);
  f << header << data;
  return p.string();
}

std::string error_of(const std::string& path) {
  try {
    io::SafeTensorsFile::open(path);
  } catch (const FormatError& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST(SafeTensors, RoundTripIsBitExactAndZeroCopy) {
  const fs::path dir = temp_dir();
  Rng rng(1);
  Tensor a = Tensor::randn({3, 5}, rng), b = Tensor::randn({4}, rng).to(DType::BF16);
  Tensor c = Tensor::from_data({2}, std::vector<int32_t>{7, -9});
  Tensor t = a.transpose(0, 1);  // non-contiguous input is written contiguous
  io::save_safetensors((dir / "m.safetensors").string(), {{"a", a}, {"b", b}, {"c", c}, {"t", t}}, {{"format", "pt"}});
  auto f = io::SafeTensorsFile::open((dir / "m.safetensors").string());
  EXPECT_EQ(f.names(), (std::vector<std::string>{"a", "b", "c", "t"}));
  EXPECT_EQ(f.metadata().at("format"), "pt");
  EXPECT_EQ(f.get("a").to_vector(), a.to_vector());
  EXPECT_EQ(f.get("b").dtype(), DType::BF16);
  EXPECT_EQ(f.get("b").to_vector(), b.to_vector());
  EXPECT_EQ(f.get("c").to_int_vector(), c.to_int_vector());
  EXPECT_EQ(f.get("t").shape(), Shape({5, 3}));
  EXPECT_EQ(f.get("t").to_vector(), t.to_vector());
  EXPECT_THROW(f.get("missing"), FormatError);
  // The data section starts 8-byte aligned.
  EXPECT_EQ(reinterpret_cast<uintptr_t>(f.get("a").raw_data()) % 8, 0u);
  fs::remove_all(dir);
}

TEST(SafeTensors, CorruptFilesNameWhatIsWrong) {
  const fs::path dir = temp_dir();
  EXPECT_NE(error_of(write_raw(dir / "short", "", "")).find("not valid JSON"), std::string::npos);
  {
    std::ofstream f(dir / "tiny");
    f << "abc";
  }
  EXPECT_NE(error_of((dir / "tiny").string()).find("too short"), std::string::npos);
  {
    std::ofstream f(dir / "huge", std::ios::binary);
    const uint64_t n = 1ull << 40;
    f.write(reinterpret_cast<const char*>(&n), 8);
    f << "{}";
  }
  EXPECT_NE(error_of((dir / "huge").string()).find("exceeds the file size"), std::string::npos);
  const std::string trunc =
      error_of(write_raw(dir / "trunc", R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", std::string(8, '\0')));
  EXPECT_NE(trunc.find("tensor 'w': data_offsets [0, 16] exceed the 8 data bytes"), std::string::npos) << trunc;
  const std::string shape =
      error_of(write_raw(dir / "shape", R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,16]}})", std::string(16, '\0')));
  EXPECT_NE(shape.find("needs 12 bytes"), std::string::npos) << shape;
  const std::string dt =
      error_of(write_raw(dir / "dtype", R"({"w":{"dtype":"F99","shape":[1],"data_offsets":[0,4]}})", std::string(4, '\0')));
  EXPECT_NE(dt.find("unknown dtype 'F99'"), std::string::npos) << dt;
  EXPECT_THROW(io::SafeTensorsFile::open((dir / "nope").string()), IOError);
  fs::remove_all(dir);
}

TEST(AtomicFile, AbandonedWriteLeavesTheOldFileIntact) {
  const fs::path dir = temp_dir();
  const std::string p = (dir / "ckpt").string();
  io::write_file_atomic(p, "good");
  {
    io::AtomicFile f(p);
    f.write("half-writ");
    // destroyed without commit(): as if the process died mid-write
  }
  EXPECT_EQ(io::read_file(p), "good");
  EXPECT_EQ(std::distance(fs::directory_iterator(dir), fs::directory_iterator()), 1);  // no temp left
  fs::remove_all(dir);
}
