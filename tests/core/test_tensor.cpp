#include <gtest/gtest.h>

#include "cornerstone/core/allocator.h"
#include "cornerstone/core/error.h"
#include "cornerstone/core/rng.h"
#include "cornerstone/core/tensor.h"
#include "test_util.h"

using namespace cornerstone;
using cornerstone::testing::all_close;

namespace {
Tensor iota(const Shape& s) {
  std::vector<float> v(static_cast<size_t>(s.numel()));
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(i);
  return Tensor::from_data(s, v);
}
}  // namespace

TEST(Tensor, ConstructionAndInspection) {
  Tensor t = Tensor::zeros({2, 3, 4});
  EXPECT_EQ(t.ndim(), 3);
  EXPECT_EQ(t.numel(), 24);
  EXPECT_EQ(t.size(-1), 4);
  EXPECT_EQ(t.nbytes(), 96u);
  EXPECT_TRUE(t.is_contiguous());
  EXPECT_EQ(t.str(), "Tensor(f32, (2, 3, 4))");
  EXPECT_EQ(Tensor::full({3}, 2.5f).to_vector(), std::vector<float>({2.5f, 2.5f, 2.5f}));
}

TEST(Tensor, AtMostFourDimensions) {
  EXPECT_THROW(Shape({1, 2, 3, 4, 5}), ShapeError);
  EXPECT_NO_THROW(Shape({1, 2, 3, 4}));
}

TEST(Tensor, TransposeIsAViewAndContiguousCopies) {
  Tensor t = iota({2, 3});
  Tensor tt = t.transpose(0, 1);
  EXPECT_TRUE(tt.storage() == t.storage());
  EXPECT_FALSE(tt.is_contiguous());
  EXPECT_EQ(tt.shape(), Shape({3, 2}));
  EXPECT_EQ(tt.to_vector(), std::vector<float>({0, 3, 1, 4, 2, 5}));
  Tensor c = tt.contiguous();
  EXPECT_TRUE(c.is_contiguous());
  EXPECT_FALSE(c.storage() == t.storage());
  EXPECT_EQ(c.to_vector(), std::vector<float>({0, 3, 1, 4, 2, 5}));
}

TEST(Tensor, ViewSplitsAndMergesWithoutCopy) {
  Tensor t = iota({4, 6});
  Tensor v = t.view({2, 2, 6});
  EXPECT_TRUE(v.storage() == t.storage());
  EXPECT_EQ(v.at({1, 0, 2}), 14.0f);
  // A slice along the last dim is not contiguous, but its leading dims can still merge.
  Tensor s = iota({2, 3, 8}).slice(2, 0, 4);  // (2, 3, 4) with row stride 8
  Tensor m = s.view({6, 4});
  EXPECT_EQ(m.at({4, 1}), 8.0f * 4 + 1);
  EXPECT_THROW(s.view({24}), ShapeError);  // needs a copy
  EXPECT_THROW(t.view({5, 5}), ShapeError);
}

TEST(Tensor, SliceAndSelectShareStorage) {
  Tensor t = iota({3, 4});
  Tensor s = t.slice(1, 1, 3);
  EXPECT_EQ(s.shape(), Shape({3, 2}));
  EXPECT_EQ(s.to_vector(), std::vector<float>({1, 2, 5, 6, 9, 10}));
  Tensor r = t.select(0, 2);
  EXPECT_EQ(r.to_vector(), std::vector<float>({8, 9, 10, 11}));
  r.fill(-1.0f);  // writes through
  EXPECT_EQ(t.at({2, 3}), -1.0f);
  EXPECT_THROW(t.slice(1, 2, 9), ShapeError);
  EXPECT_THROW(t.select(0, 3), ShapeError);
}

TEST(Tensor, DtypeConversionsRoundTrip) {
  Tensor t = Tensor::from_data({4}, std::vector<float>{1.0f, -2.5f, 3.140625f, 65504.0f});
  EXPECT_EQ(t.to(DType::BF16).to(DType::F32).to_vector(), std::vector<float>({1.0f, -2.5f, 3.140625f, 65536.0f}));
  EXPECT_EQ(t.to(DType::F16).to(DType::F32).to_vector(), std::vector<float>({1.0f, -2.5f, 3.140625f, 65504.0f}));
  EXPECT_EQ(t.to(DType::I32).to_int_vector(), std::vector<int32_t>({1, -2, 3, 65504}));
  // bf16 rounds to nearest even
  EXPECT_EQ(bf16_to_f32(f32_to_bf16(1.00390625f)), 1.0f);
  EXPECT_EQ(bf16_to_f32(f32_to_bf16(1.01171875f)), 1.015625f);
}

TEST(Tensor, TypedAccessChecksDtype) {
  Tensor t = Tensor::zeros({2});
  EXPECT_NO_THROW(t.data<float>());
  EXPECT_THROW(t.data<int32_t>(), DTypeError);
  EXPECT_THROW(Tensor().data<float>(), ValueError);
}

TEST(Tensor, ChecksNameTheOpAndShapes) {
  Tensor a = Tensor::zeros({2, 3}), b = Tensor::zeros({3, 2});
  try {
    check_same_shape(a, b, "myop");
    FAIL() << "expected ShapeError";
  } catch (const ShapeError& e) {
    EXPECT_STREQ(e.what(), "myop: shapes differ: (2, 3) vs (3, 2)");
  }
  EXPECT_THROW(check_dtype(a, DType::I32, "myop", "ids"), DTypeError);
  EXPECT_THROW(check_ndim(a, 3, "myop", "x"), ShapeError);
}

TEST(Allocator, ReusesFreedBlocksOfTheSameSize) {
  auto& alloc = CachingAllocator::global();
  { Tensor warm = Tensor::empty({1000, 37}); }
  const auto before = alloc.stats();
  for (int step = 0; step < 5; ++step) {
    Tensor a = Tensor::empty({1000, 37});
    Tensor b = Tensor::empty({1000, 37});
  }
  const auto after = alloc.stats();
  EXPECT_EQ(after.requests - before.requests, 10u);
  EXPECT_GE(after.cache_hits - before.cache_hits, 9u);  // all but possibly the first extra block
}

TEST(Allocator, CacheStaysBoundedWhenShapesKeepChanging) {
  // Sizes that never repeat (as sampled completions' lengths do), one block in use at a time: the
  // free lists would keep them all (6 GiB of address space here); the cache keeps at most its
  // limit and gives back the sizes asked for least recently. (The blocks are never touched, so the
  // test costs no memory.)
  auto& alloc = CachingAllocator::global();
  alloc.release_cached();
  const auto before = alloc.stats();
  constexpr size_t kMiB = size_t{1} << 20;
  auto size = [&](size_t i) { return (4 + 2 * i) * kMiB; };  // distinct 2 MiB-rounded classes
  size_t cycled = 0;
  for (size_t i = 0; i < 80; ++i) {
    void* p = alloc.allocate(size(i));
    alloc.deallocate(p, size(i));
    cycled += size(i);
  }
  const auto after = alloc.stats();
  EXPECT_LE(after.bytes_cached, after.cache_limit);
  EXPECT_LT(after.cache_limit, cycled / 4) << "the limit is what was in use at once, not what went through";
  EXPECT_GT(after.released, before.released) << "blocks went back to the system";
  // The size asked for last is still served from the cache.
  void* again = alloc.allocate(size(79));
  EXPECT_EQ(alloc.stats().cache_hits, after.cache_hits + 1);
  alloc.deallocate(again, size(79));
}

TEST(Rng, CounterBasedAndRestorable) {
  Rng a(42);
  const uint32_t x0 = a.next_u32();
  const float n0 = a.normal();
  Rng b(42);
  EXPECT_EQ(b.next_u32(), x0);
  Rng c(42, a.offset());  // restore from saved state
  Rng d(42);
  d.next_u32();
  d.normal();
  EXPECT_EQ(c.next_u64(), d.next_u64());
  (void)n0;
  Rng e(7);
  Tensor t = Tensor::randn({10000}, e);
  double mean = 0, var = 0;
  for (float v : t.to_vector()) mean += v;
  mean /= 10000;
  for (float v : t.to_vector()) var += (v - mean) * (v - mean);
  var /= 10000;
  EXPECT_NEAR(mean, 0.0, 0.05);
  EXPECT_NEAR(var, 1.0, 0.05);
  EXPECT_LT(Rng(3).below(10), 10u);
}
