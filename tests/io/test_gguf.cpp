// GGUF reader and writer: every metadata type, every tensor type, alignment, the exact byte
// layout (checked against a second, hand-written encoder), and damaged files: every truncation,
// wrong magic and version, bad types, tensors past the end, misaligned or overlapping data.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "cornerstone/core/error.h"
#include "cornerstone/core/rng.h"
#include "cornerstone/io/atomic_file.h"
#include "cornerstone/io/gguf.h"
#include "cornerstone/ops/quantize.h"
#include "cli.h"
#include "test_util.h"

using namespace cornerstone;
using namespace cornerstone::io;
namespace fs = std::filesystem;

namespace {

// A GGUF encoder written independently of GGUFWriter, for malformed files and for layout checks.
struct RawGguf {
  std::string b;
  template <typename T>
  RawGguf& put(T v) {
    b.append(reinterpret_cast<const char*>(&v), sizeof v);
    return *this;
  }
  RawGguf& str(const std::string& s) {
    put<uint64_t>(s.size());
    b += s;
    return *this;
  }
  RawGguf& header(uint64_t n_tensors, uint64_t n_kv, uint32_t version = 3) {
    b += "GGUF";
    return put<uint32_t>(version).put<uint64_t>(n_tensors).put<uint64_t>(n_kv);
  }
  RawGguf& kv_u32(const std::string& k, uint32_t v) { return str(k).put<uint32_t>(4).put<uint32_t>(v); }
  RawGguf& kv_str(const std::string& k, const std::string& v) { return str(k).put<uint32_t>(8).str(v); }
  RawGguf& tensor(const std::string& name, std::vector<uint64_t> dims, uint32_t type, uint64_t offset) {
    str(name).put<uint32_t>(static_cast<uint32_t>(dims.size()));
    for (auto d : dims) put<uint64_t>(d);
    return put<uint32_t>(type).put<uint64_t>(offset);
  }
  RawGguf& pad(size_t a = 32) {
    b.resize((b.size() + a - 1) / a * a, '\0');
    return *this;
  }
  RawGguf& data(size_t n, char fill = 0) {
    b.append(n, fill);
    return *this;
  }
};

class GGUF : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = cornerstone::testing::fresh_temp_dir("gguf_io"); }
  void TearDown() override { fs::remove_all(dir_); }
  std::string file(const std::string& name) const { return (fs::path(dir_) / name).string(); }
  std::string write_raw(const std::string& bytes, const std::string& name = "raw.gguf") const {
    std::ofstream(file(name), std::ios::binary | std::ios::trunc) << bytes;  // no fsync: hundreds of these
    return file(name);
  }
  // The FormatError message of opening `bytes`, or "" when it opens.
  std::string open_error(const std::string& bytes) const {
    try {
      GGUFFile::open(write_raw(bytes));
    } catch (const FormatError& e) {
      return e.what();
    }
    return "";
  }
  std::string dir_;
};

GGUFValue all_types_array() {
  return GGUFValue::array(GGUFType::Array, {GGUFValue::i32s({1, -2}), GGUFValue::i32s({})});
}

std::vector<std::pair<std::string, GGUFValue>> every_type() {
  using V = GGUFValue::Variant;
  return {
      {"t.u8", GGUFValue(V(std::in_place_type<uint8_t>, 200))},
      {"t.i8", GGUFValue(V(std::in_place_type<int8_t>, -100))},
      {"t.u16", GGUFValue(V(std::in_place_type<uint16_t>, 60000))},
      {"t.i16", GGUFValue(V(std::in_place_type<int16_t>, -30000))},
      {"t.u32", GGUFValue::u32(4000000000u)},
      {"t.i32", GGUFValue::i32(-2000000000)},
      {"t.f32", GGUFValue::f32(0.1f)},
      {"t.bool", GGUFValue::boolean(true)},
      {"t.string", GGUFValue::string("héllo ▁world")},
      {"t.empty_string", GGUFValue::string("")},
      {"t.strings", GGUFValue::strings({"a", "", "ĠĠ"})},
      {"t.floats", GGUFValue::f32s({1.5f, -0.0f})},
      {"t.nested", all_types_array()},
      {"t.empty_array", GGUFValue::strings({})},
      {"t.u64", GGUFValue::u64(1ull << 60)},
      {"t.i64", GGUFValue(V(std::in_place_type<int64_t>, -(1ll << 60)))},
      {"t.f64", GGUFValue(V(std::in_place_type<double>, 1e300))},
  };
}

}  // namespace

TEST_F(GGUF, EveryMetadataTypeRoundTripsInOrder) {
  GGUFWriter w;
  for (const auto& [k, v] : every_type()) w.set(k, v);
  w.write(file("m.gguf"));
  const auto f = GGUFFile::open(file("m.gguf"));
  EXPECT_EQ(f.version(), 3u);
  ASSERT_EQ(f.metadata().size(), every_type().size() + 1);
  EXPECT_EQ(f.metadata()[0].first, "general.alignment");
  for (size_t i = 0; i < every_type().size(); ++i) {
    EXPECT_EQ(f.metadata()[i + 1].first, every_type()[i].first);
    EXPECT_TRUE(f.metadata()[i + 1].second == every_type()[i].second) << every_type()[i].first;
    EXPECT_EQ(f.metadata()[i + 1].second.type(), every_type()[i].second.type());
  }
  EXPECT_TRUE(f.tensors().empty());
}

TEST_F(GGUF, TypedReadsAcceptEveryFittingIntegerAndNameTheKey) {
  GGUFWriter w;
  for (const auto& [k, v] : every_type()) w.set(k, v);
  w.write(file("m.gguf"));
  const auto f = GGUFFile::open(file("m.gguf"));
  EXPECT_EQ(f.get_uint("t.u8"), 200u);
  EXPECT_EQ(f.get_uint("t.u64"), 1ull << 60);
  EXPECT_EQ(f.get("t.i8").as_int("x"), -100);
  EXPECT_EQ(f.get_float("t.f64"), 1e300);
  EXPECT_EQ(f.get_string("t.string"), "héllo ▁world");
  EXPECT_EQ(f.get("t.strings").as_strings("x"), (std::vector<std::string>{"a", "", "ĠĠ"}));
  try {
    f.get_uint("t.i32");
    FAIL();
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("metadata 't.i32' should be a non-negative integer"), std::string::npos) << e.what();
  }
  try {
    f.get_string("t.strings");
    FAIL();
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("'t.strings' should be a string, is array[string]"), std::string::npos) << e.what();
  }
  try {
    f.get_uint("llama.block_count");
    FAIL();
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("missing metadata key 'llama.block_count'"), std::string::npos) << e.what();
  }
  EXPECT_THROW(f.get_float("t.u32"), FormatError);
  EXPECT_THROW(f.get("t.string").as_bool("x"), FormatError);
}

TEST_F(GGUF, TensorsOfEveryTypeRoundTripAlignedWithReversedDims) {
  Rng rng(1);
  const Tensor w = Tensor::randn({5, 64}, rng);
  const std::vector<std::pair<std::string, Tensor>> tensors = {
      {"f32", w},
      {"bias", Tensor::randn({7}, rng)},  // 28 bytes: the next tensor needs padding
      {"f16", w.to(DType::F16)},
      {"bf16", w.to(DType::BF16)},
      {"q8", ops::quantize(w, DType::Q8_0)},
      {"q4", ops::quantize(w, DType::Q4_0)},
      {"three_d", Tensor::randn({2, 3, 4}, rng)},
  };
  for (uint32_t alignment : {32u, 64u}) {
    SCOPED_TRACE(alignment);
    GGUFWriter g(alignment);
    for (const auto& [n, t] : tensors) g.add_tensor(n, t);
    g.write(file("t.gguf"));
    const auto f = GGUFFile::open(file("t.gguf"));
    EXPECT_EQ(f.alignment(), alignment);
    EXPECT_EQ(f.data_offset() % alignment, 0u);
    ASSERT_EQ(f.tensors().size(), tensors.size());
    const auto expected = g.tensor_infos();
    for (size_t i = 0; i < tensors.size(); ++i) {
      const auto& info = f.tensors()[i];
      const Tensor& t = tensors[i].second;
      EXPECT_EQ(info.name, tensors[i].first);
      EXPECT_EQ(info.offset % alignment, 0u) << info.name;
      EXPECT_EQ(info.offset, expected[i].offset);
      EXPECT_EQ(info.dims.front(), static_cast<uint64_t>(t.size(t.ndim() - 1))) << "dims[0] is the row length";
      EXPECT_EQ(info.shape(), t.shape());
      EXPECT_EQ(info.type, static_cast<uint32_t>(ggml_type_of(t.dtype())));
      const Tensor r = f.tensor(info.name);
      EXPECT_EQ(r.dtype(), t.dtype());
      ASSERT_EQ(r.nbytes(), t.nbytes());
      EXPECT_EQ(std::memcmp(r.raw_data(), t.raw_data(), t.nbytes()), 0) << info.name;
    }
    fs::remove(file("t.gguf"));
  }
}

TEST_F(GGUF, WriterBytesMatchAnIndependentEncoder) {
  GGUFWriter w;
  w.set("general.architecture", GGUFValue::string("llama"));
  w.add_tensor("a", Tensor::from_data({3}, std::vector<float>{1, 2, 3}));
  w.add_tensor("b", Tensor::from_data({2, 2}, std::vector<float>{4, 5, 6, 7}));
  w.write(file("w.gguf"));
  RawGguf r;
  r.header(2, 2).kv_u32("general.alignment", 32).kv_str("general.architecture", "llama");
  r.tensor("a", {3}, 0, 0).tensor("b", {2, 2}, 0, 32).pad();
  for (float v : {1.f, 2.f, 3.f}) r.put(v);
  r.pad();
  for (float v : {4.f, 5.f, 6.f, 7.f}) r.put(v);
  r.pad();
  EXPECT_EQ(read_file(file("w.gguf")), r.b);
}

TEST_F(GGUF, EveryTruncationIsAFormatErrorNamingWhatWasBeingRead) {
  GGUFWriter w;
  for (const auto& [k, v] : every_type()) w.set(k, v);
  w.add_tensor("x", ops::quantize(Tensor::full({2, 32}, 1.0f), DType::Q8_0));
  w.write(file("full.gguf"));
  const std::string bytes = read_file(file("full.gguf"));
  const auto f = GGUFFile::open(file("full.gguf"));
  // Every prefix shorter than the end of the last tensor's data fails cleanly.
  const size_t end = f.data_offset() + f.tensors().back().offset + f.tensors().back().nbytes;
  for (size_t n = 0; n < end; n += (n < 400 ? 1 : 7)) {
    const std::string err = open_error(bytes.substr(0, n));
    EXPECT_FALSE(err.empty()) << "prefix of " << n << " bytes opened";
    if (n >= 8) {
      EXPECT_TRUE(err.find("truncated") != std::string::npos || err.find("past the end") != std::string::npos) << n << ": " << err;
    }
  }
  EXPECT_EQ(open_error(bytes.substr(0, end)), "");
}

TEST_F(GGUF, WrongMagicAndVersionsAreRefused) {
  RawGguf ok;
  ok.header(0, 0);
  std::string bad = ok.b;
  bad[0] = 'G', bad[1] = 'G', bad[2] = 'M', bad[3] = 'L';
  EXPECT_NE(open_error(bad).find("not a GGUF file (magic is 'GGML', expected 'GGUF')"), std::string::npos) << open_error(bad);
  EXPECT_NE(open_error(RawGguf().header(0, 0, 1).b).find("GGUF version 1 is not supported"), std::string::npos);
  EXPECT_NE(open_error(RawGguf().header(0, 0, 4).b).find("GGUF version 4 is not supported"), std::string::npos);
  EXPECT_NE(open_error(RawGguf().header(0, 0, 3u << 24).b).find("big-endian"), std::string::npos);
  EXPECT_EQ(open_error(RawGguf().header(0, 0, 2).b), "");  // v2 has the same little-endian layout
  EXPECT_EQ(open_error(ok.b), "");
  EXPECT_THROW(GGUFFile::open(file("missing.gguf")), IOError);
}

TEST_F(GGUF, MalformedHeadersNameTheKeyOrTensor) {
  auto one_tensor = [](std::vector<uint64_t> dims, uint32_t type, uint64_t offset, size_t data) {
    RawGguf r;
    r.header(1, 0).tensor("blk.0.attn_q.weight", dims, type, offset).pad().data(data);
    return r.b;
  };
  EXPECT_EQ(open_error(one_tensor({32, 2}, 0, 0, 256)), "");
  EXPECT_NE(open_error(one_tensor({32, 2}, 0, 0, 255)).find("tensor 'blk.0.attn_q.weight' data [0, 256) of the data section runs past the end"),
            std::string::npos);
  EXPECT_NE(open_error(one_tensor({32, 2}, 0, 16, 512)).find("'blk.0.attn_q.weight': data offset 16 is not a multiple of the alignment 32"),
            std::string::npos);
  EXPECT_NE(open_error(one_tensor({32, 2}, 5, 0, 512)).find("'blk.0.attn_q.weight' has unknown ggml type 5"), std::string::npos);
  EXPECT_NE(open_error(one_tensor({33, 2}, 8, 0, 512)).find("row length 33 is not a multiple of the q8_0 block size 32"),
            std::string::npos);
  EXPECT_NE(open_error(one_tensor({1, 1, 1, 1, 1}, 0, 0, 64)).find("has 5 dimensions"), std::string::npos);
  EXPECT_NE(open_error(one_tensor({1ull << 50, 2}, 0, 0, 64)).find("implausibly large"), std::string::npos);

  RawGguf two;
  two.header(2, 0).tensor("a", {16}, 0, 0).tensor("b", {16}, 0, 32).pad().data(96);
  EXPECT_NE(open_error(two.b).find("tensors 'a' and 'b' overlap"), std::string::npos) << open_error(two.b);

  RawGguf dup;
  dup.header(0, 2).kv_u32("k", 1).kv_u32("k", 2);
  EXPECT_NE(open_error(dup.b).find("metadata 'k' appears twice"), std::string::npos);
  RawGguf badtype;
  badtype.header(0, 1).str("k").put<uint32_t>(13).put<uint32_t>(0);
  EXPECT_NE(open_error(badtype.b).find("metadata 'k' has unknown value type 13"), std::string::npos);
  RawGguf badbool;
  badbool.header(0, 1).str("k").put<uint32_t>(7).put<uint8_t>(2);
  EXPECT_NE(open_error(badbool.b).find("bool must be 0 or 1"), std::string::npos);
  RawGguf hugearray;
  hugearray.header(0, 1).str("tokenizer.ggml.tokens").put<uint32_t>(9).put<uint32_t>(8).put<uint64_t>(1ull << 40);
  EXPECT_NE(open_error(hugearray.b).find("'tokenizer.ggml.tokens': array of 1099511627776 string does not fit"), std::string::npos)
      << open_error(hugearray.b);
  RawGguf hugecount;
  hugecount.header(1ull << 40, 0);
  EXPECT_NE(open_error(hugecount.b).find("claims 1099511627776 tensors"), std::string::npos);
  RawGguf align;
  align.header(0, 1).kv_u32("general.alignment", 24);
  EXPECT_NE(open_error(align.b).find("must be a power of two, is 24"), std::string::npos);
}

TEST_F(GGUF, TensorsOfTypesCornerstoneCannotReadAreNamed) {
  RawGguf r;
  r.header(1, 0).tensor("blk.3.ffn_down.weight", {256, 2}, 14, 0).pad().data(2 * 210);
  const auto f = GGUFFile::open(write_raw(r.b));
  EXPECT_EQ(f.tensors()[0].nbytes, 420u);
  try {
    f.tensor("blk.3.ffn_down.weight");
    FAIL();
  } catch (const UnsupportedError& e) {
    EXPECT_NE(std::string(e.what()).find("tensor 'blk.3.ffn_down.weight' is q6_K"), std::string::npos) << e.what();
  }
  EXPECT_THROW(f.tensor("nope"), FormatError);
}

TEST_F(GGUF, WriterRefusesBadTensors) {
  GGUFWriter w;
  w.add_tensor("x", Tensor::zeros({4}));
  EXPECT_THROW(w.add_tensor("x", Tensor::zeros({4})), ValueError);
  EXPECT_THROW(w.add_tensor(std::string(64, 'n'), Tensor::zeros({4})), ValueError);
  EXPECT_THROW(w.add_tensor("i", Tensor::zeros({4}, DType::I32)), UnsupportedError);
  EXPECT_THROW(GGUFWriter(24), ValueError);
  EXPECT_THROW(w.set("general.alignment", GGUFValue::u32(64)), ValueError);
  EXPECT_THROW(GGUFValue::array(GGUFType::I32, {GGUFValue::string("a")}), ValueError);
}
