// Embedding gather and scatter-add against references; the backward's thread-count determinism.
#include <vector>

#include "cornerstone/kernels/embedding.h"
#include "kernel_test.h"

namespace cornerstone::testing {
namespace {

namespace k = cornerstone::kernels;

std::vector<int32_t> make_ids(int64_t N, int64_t V, uint64_t seed) {
  const auto u = random_vector(N, seed, 0, 1);
  std::vector<int32_t> ids(N);
  for (int64_t i = 0; i < N; ++i) ids[i] = std::min<int32_t>(static_cast<int32_t>(u[i] * V), V - 1);
  return ids;
}

struct Shape {
  int64_t N, C, V;
};
// Few distinct ids (heavy collisions in the backward), tails, and cases above the parallel grain.
const Shape kShapes[] = {{1, 1, 1}, {5, 7, 3}, {9, 16, 4}, {33, 45, 5}, {1000, 100, 7}, {700, 770, 50}};

TEST(Embedding, ForwardGathersRows) {
  for_each_isa([](cpu::Isa) {
    for (const Shape s : kShapes) {
      const auto table = random_vector(s.V * s.C, 81);
      const auto ids = make_ids(s.N, s.V, 82);
      std::vector<float> out(s.N * s.C), expected(s.N * s.C);
      k::embedding_forward(table.data(), ids.data(), s.N, s.C, out.data());
      for (int64_t i = 0; i < s.N; ++i)
        for (int64_t j = 0; j < s.C; ++j) expected[i * s.C + j] = table[ids[i] * s.C + j];
      EXPECT_EQ(out, expected);
    }
  });
}

TEST(Embedding, BackwardScatterAdds) {
  for_each_isa([](cpu::Isa) {
    for (const Shape s : kShapes) {
      SCOPED_TRACE(::testing::Message() << "N=" << s.N << " C=" << s.C << " V=" << s.V);
      const auto dout = random_vector(s.N * s.C, 83), dtable0 = random_vector(s.V * s.C, 84);
      const auto ids = make_ids(s.N, s.V, 85);
      std::vector<double> e(dtable0.begin(), dtable0.end());  // dtable is added into
      for (int64_t i = 0; i < s.N; ++i)
        for (int64_t j = 0; j < s.C; ++j) e[ids[i] * s.C + j] += dout[i * s.C + j];
      std::vector<float> dtable = dtable0;
      k::embedding_backward(dout.data(), ids.data(), s.N, s.C, dtable.data());
      EXPECT_TRUE(all_close(dtable, to_float(e), 1e-5, 1e-5));
    }
  });
}

// Columns are split between threads, rows always summed in order: 1 and 2 threads agree to the bit.
TEST(Embedding, BackwardIsThreadCountInvariant) {
  for_each_isa([](cpu::Isa) {
    for (const Shape s : {Shape{4000, 100, 7}, Shape{1000, 770, 50}}) {
      const auto dout = random_vector(s.N * s.C, 86, -10, 10);
      const auto ids = make_ids(s.N, s.V, 87);
      std::vector<float> dtable[2];
      for (int t = 0; t < 2; ++t) {
        ThreadsScope threads(t + 1);
        dtable[t].assign(s.V * s.C, 0.5f);
        k::embedding_backward(dout.data(), ids.data(), s.N, s.C, dtable[t].data());
      }
      EXPECT_TRUE(bitwise_equal(dtable[0], dtable[1]));
    }
  });
}

TEST(Embedding, BackwardMatchesFiniteDifferences) {
  const int64_t N = 4, C = 3, V = 3;
  const auto table = random_vector(V * C, 88), r = random_vector(N * C, 89);
  const std::vector<int32_t> ids = {2, 0, 2, 2};
  for_each_isa([&](cpu::Isa) {
    std::vector<float> dtable(V * C, 0.0f);
    k::embedding_backward(r.data(), ids.data(), N, C, dtable.data());
    const auto num = numeric_grad(
        [&](const std::vector<float>& t) {
          std::vector<float> out(N * C);
          k::embedding_forward(t.data(), ids.data(), N, C, out.data());
          return dot(out, r);
        },
        table, 1e-2f);
    EXPECT_TRUE(all_close(dtable, to_float(num), 1e-3, 1e-4));
  });
}

}  // namespace
}  // namespace cornerstone::testing
