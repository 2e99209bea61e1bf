// The packed inference matmul against straightforward references, for every format and ISA variant:
// shapes with partial panels and odd K, decode (M = 1..8) and prompt (larger M) row counts, bias and
// strides; a row's result bitwise independent of M, of its neighbours and of the thread count;
// row dequantization; bad shapes.
#include <cmath>
#include <cstring>
#include <type_traits>
#include <vector>

#include "cornerstone/core/error.h"
#include "cornerstone/kernels/packed_matmul.h"
#include "kernels/kernel_test.h"

namespace cornerstone::testing {
namespace {

using kernels::BlockQ4_0;
using kernels::BlockQ8_0;
using kernels::PackedView;
using kernels::WeightFormat;

// ---- references ----------------------------------------------------------------------------------

template <class Block>
std::vector<Block> quantize_rows(const std::vector<float>& w, int64_t n, int64_t k) {
  std::vector<Block> out(static_cast<size_t>(n * k / 32));
  for (int64_t r = 0; r < n; ++r) {
    if constexpr (std::is_same_v<Block, BlockQ8_0>)
      kernels::quantize_row_q8_0(w.data() + r * k, k, out.data() + r * (k / 32));
    else
      kernels::quantize_row_q4_0(w.data() + r * k, k, out.data() + r * (k / 32));
  }
  return out;
}

float round_bf16(float v) { return bf16_to_f32(f32_to_bf16(v)); }

// One row of activations quantized per 32-block as the int8 path documents: d = max|x| / 127,
// q = round-to-nearest-even(x / d) computed as x * (1 / d).
void ref_quantize_activation(const float* x, int64_t k, std::vector<int>& q, std::vector<float>& d) {
  q.assign(static_cast<size_t>(k), 0);
  d.assign(static_cast<size_t>(k / 32), 0);
  for (int64_t b = 0; b < k / 32; ++b) {
    float amax = 0;
    for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[b * 32 + j]));
    const float s = amax / 127.0f, id = s != 0 ? 1.0f / s : 0;
    d[b] = s;
    for (int j = 0; j < 32; ++j) q[b * 32 + j] = static_cast<int>(std::nearbyint(x[b * 32 + j] * id));
  }
}

// A test matrix in one format: packed bytes plus the exact weights the format holds.
struct Matrix {
  WeightFormat format;
  int64_t n, k;
  std::vector<float> w;       // (n, k): the values packing was given
  std::vector<float> stored;  // (n, k): the values the format stores (rounded / dequantized)
  std::vector<char> packed;
  PackedView view() const { return {format, n, k, packed.data()}; }
};

Matrix make_matrix(WeightFormat f, int64_t n, int64_t k, uint64_t seed) {
  Matrix m{f, n, k, random_vector(static_cast<size_t>(n * k), seed), {}, {}};
  m.packed.resize(kernels::packed_bytes(f, n, k) + 64);
  m.stored = m.w;
  switch (f) {
    case WeightFormat::F32:
    case WeightFormat::BF16:
      kernels::pack_weights(f, m.w.data(), n, k, k, 1, m.packed.data());
      if (f == WeightFormat::BF16)
        for (float& v : m.stored) v = round_bf16(v);
      break;
    case WeightFormat::Q8_0: {
      const auto blocks = quantize_rows<BlockQ8_0>(m.w, n, k);
      kernels::pack_weights_q8_0(blocks.data(), n, k, m.packed.data());
      kernels::dequantize_row_q8_0(blocks.data(), n * k, m.stored.data());
      break;
    }
    case WeightFormat::Q4_0: {
      const auto blocks = quantize_rows<BlockQ4_0>(m.w, n, k);
      kernels::pack_weights_q4_0(blocks.data(), n, k, m.packed.data());
      kernels::dequantize_row_q4_0(blocks.data(), n * k, m.stored.data());
      break;
    }
  }
  return m;
}

// y = x W^T + bias in double, with the activations as the format consumes them. Also returns the
// per-output sum of |terms|, the scale of the rounding error.
void reference(const Matrix& w, const std::vector<float>& x, int64_t m, const std::vector<float>& bias, std::vector<double>& y,
               std::vector<double>& mag) {
  const int64_t n = w.n, k = w.k;
  y.assign(static_cast<size_t>(m * n), 0);
  mag.assign(static_cast<size_t>(m * n), 0);
  for (int64_t i = 0; i < m; ++i) {
    const float* xi = x.data() + i * k;
    std::vector<int> q;
    std::vector<float> d;
    const bool quant = w.format == WeightFormat::Q8_0 || w.format == WeightFormat::Q4_0;
    if (quant) ref_quantize_activation(xi, k, q, d);
    for (int64_t r = 0; r < n; ++r) {
      double s = 0, a = 0;
      for (int64_t j = 0; j < k; ++j) {
        const double xv = quant ? static_cast<double>(d[j / 32]) * q[j] : w.format == WeightFormat::BF16 ? round_bf16(xi[j]) : xi[j];
        const double t = xv * w.stored[r * k + j];
        s += t, a += std::fabs(t);
      }
      if (!bias.empty()) s += bias[r], a += std::fabs(bias[r]);
      y[i * n + r] = s, mag[i * n + r] = a;
    }
  }
}

std::vector<float> run(const Matrix& w, const std::vector<float>& x, int64_t m, const std::vector<float>& bias) {
  std::vector<float> y(static_cast<size_t>(m * w.n), std::nanf(""));
  kernels::packed_matmul(w.view(), x.data(), m, w.k, bias.empty() ? nullptr : bias.data(), y.data(), w.n);
  return y;
}

const WeightFormat kFormats[] = {WeightFormat::F32, WeightFormat::BF16, WeightFormat::Q8_0, WeightFormat::Q4_0};

::testing::AssertionResult matches_reference(const Matrix& w, int64_t m, bool with_bias, uint64_t seed) {
  const auto x = random_vector(static_cast<size_t>(m * w.k), seed, -2, 2);
  const std::vector<float> bias = with_bias ? random_vector(static_cast<size_t>(w.n), seed + 1) : std::vector<float>{};
  const auto y = run(w, x, m, bias);
  std::vector<double> ref, mag;
  reference(w, x, m, bias, ref, mag);
  for (size_t i = 0; i < y.size(); ++i) {
    // fp32 accumulation over k terms (over blocks for the integer formats, whose block sums are exact)
    const double tol = 1e-6 + 4e-7 * std::sqrt(static_cast<double>(w.k)) * mag[i];
    if (!(std::fabs(y[i] - ref[i]) <= tol))
      return ::testing::AssertionFailure() << weight_format_name(w.format) << " (" << w.n << ", " << w.k << "), m " << m
                                           << ": y[" << i / w.n << ", " << i % w.n << "] = " << y[i] << ", reference "
                                           << ref[i] << " (tolerance " << tol << ")";
  }
  return ::testing::AssertionSuccess();
}


// ---- tests ---------------------------------------------------------------------------------------

TEST(PackedMatmul, MatchesTheReferenceForEveryFormatShapeAndRowCount) {
  struct Shape {
    int64_t n, k;
  };
  for_each_isa([](cpu::Isa) {
    for (WeightFormat f : kFormats) {
      const bool quant = f == WeightFormat::Q8_0 || f == WeightFormat::Q4_0;
      const std::vector<Shape> shapes = quant ? std::vector<Shape>{{1, 32}, {16, 64}, {37, 96}, {130, 256}, {50, 768}}
                                              : std::vector<Shape>{{1, 1}, {16, 7}, {37, 33}, {130, 64}, {50, 300}};
      for (const Shape& s : shapes) {
        const Matrix w = make_matrix(f, s.n, s.k, 11 + s.n);
        for (int64_t m : {1, 2, 3, 4, 5, 6, 7, 8, 9, 13, 14, 15, 29, 64})
          ASSERT_TRUE(matches_reference(w, m, m % 2 == 1, 100 + m));
      }
    }
  });
}

TEST(PackedMatmul, LargePromptShape) {
  // Several row blocks and a panel count that does not split evenly over threads.
  for_each_isa([](cpu::Isa isa) {
    if (isa == cpu::Isa::Scalar) return;  // the scalar loops take seconds here; covered above
    for (WeightFormat f : kFormats) {
      const Matrix w = make_matrix(f, 200, 768, 5);
      ASSERT_TRUE(matches_reference(w, 300, true, 9));
    }
  });
}

TEST(PackedMatmul, RowResultsDoNotDependOnTheBatchOrThreads) {
  for_each_isa([](cpu::Isa) {
    for (WeightFormat f : kFormats) {
      const int64_t n = 100, k = 256, m = 40;
      const Matrix w = make_matrix(f, n, k, 3);
      const auto x = random_vector(static_cast<size_t>(m * k), 4, -3, 3);
      const auto bias = random_vector(static_cast<size_t>(n), 5);
      std::vector<float> all;
      {
        ThreadsScope threads(2);
        all = run(w, x, m, bias);
      }
      for (int64_t rows : {1, 3, 8, 9, 17}) {
        for (int64_t r0 = 0; r0 + rows <= m; r0 += 7) {
          const std::vector<float> xs(x.begin() + r0 * k, x.begin() + (r0 + rows) * k);
          ThreadsScope threads(r0 % 2 == 0 ? 1 : 2);
          const auto part = run(w, xs, rows, bias);
          const std::vector<float> want(all.begin() + r0 * n, all.begin() + (r0 + rows) * n);
          ASSERT_TRUE(bitwise_equal(part, want)) << weight_format_name(f) << ": rows " << r0 << ".." << r0 + rows
                                                 << " differ from the same rows inside a batch of " << m;
        }
      }
    }
  });
}

TEST(PackedMatmul, TeamCallsInsideOneRegionGiveTheSameResult) {
  // Several products in a row inside one parallel region, each reading the previous one's output,
  // as the decoder runner chains them: every thread must see complete outputs.
  for_each_isa([](cpu::Isa) {
    for (WeightFormat f : kFormats) {
      const int64_t n = 64, k = 64;
      const Matrix w = make_matrix(f, n, k, 12);
      for (int64_t m : {1, 5, 40}) {
        const auto x = random_vector(static_cast<size_t>(m * k), 13);
        std::vector<float> want = x, got = x, tmp(static_cast<size_t>(m * n));
        for (int step = 0; step < 3; ++step) {
          kernels::packed_matmul(w.view(), want.data(), m, k, nullptr, tmp.data(), n);
          want = tmp;
        }
        std::vector<char> scratch(kernels::packed_matmul_scratch(f, m, k));
        for (int threads : {1, 2, 3}) {
          got = x;
          SpinBarrier barrier(threads);
#pragma omp parallel num_threads(threads)
          for (int step = 0; step < 3; ++step) {
            kernels::packed_matmul_team(w.view(), got.data(), m, k, nullptr, tmp.data(), n, scratch.data(), Team::of_region(barrier));
#pragma omp single
            got = tmp;  // (implicit barrier: everyone sees the new input)
          }
          ASSERT_TRUE(bitwise_equal(got, want)) << kernels::weight_format_name(f) << ", m " << m << ", " << threads << " threads";
        }
      }
    }
  });
}

TEST(PackedMatmul, StridedRowsLeaveTheGapsAlone) {
  for_each_isa([](cpu::Isa) {
    for (WeightFormat f : kFormats) {
      const int64_t n = 20, k = 64, m = 3, ldx = 80, ldy = 27;
      const Matrix w = make_matrix(f, n, k, 8);
      std::vector<float> x(static_cast<size_t>(m * ldx), 1e30f), dense = random_vector(static_cast<size_t>(m * k), 2);
      for (int64_t i = 0; i < m; ++i) std::copy_n(dense.begin() + i * k, k, x.begin() + i * ldx);
      std::vector<float> y(static_cast<size_t>(m * ldy), -7.0f);
      kernels::packed_matmul(w.view(), x.data(), m, ldx, nullptr, y.data(), ldy);
      const auto want = run(w, dense, m, {});
      for (int64_t i = 0; i < m; ++i) {
        for (int64_t j = 0; j < n; ++j) EXPECT_EQ(y[i * ldy + j], want[i * n + j]);
        for (int64_t j = n; j < ldy && i * ldy + j < static_cast<int64_t>(y.size()); ++j) EXPECT_EQ(y[i * ldy + j], -7.0f);
      }
    }
  });
}

TEST(PackedMatmul, PackedRowGivesTheStoredWeights) {
  for (WeightFormat f : kFormats) {
    const Matrix w = make_matrix(f, 37, 96, 21);
    std::vector<float> row(96);
    for (int64_t r : {0, 15, 16, 36}) {
      kernels::packed_row(w.view(), r, row.data());
      const std::vector<float> want(w.stored.begin() + r * 96, w.stored.begin() + (r + 1) * 96);
      EXPECT_TRUE(bitwise_equal(row, want)) << weight_format_name(f) << " row " << r;
    }
    EXPECT_THROW(kernels::packed_row(w.view(), 37, row.data()), ShapeError);
  }
}

TEST(PackedMatmul, QuantizedWeightsTrackTheFloatProduct) {
  // End to end against the unquantized product: the documented size of the quantization error
  // (weights and activations both per 32-block) on unit-scale random data.
  const int64_t n = 64, k = 768, m = 4;
  const auto x = random_vector(static_cast<size_t>(m * k), 31);
  for (auto [f, rel] : {std::pair{WeightFormat::BF16, 0.01}, std::pair{WeightFormat::Q8_0, 0.02}, std::pair{WeightFormat::Q4_0, 0.15}}) {
    const Matrix w = make_matrix(f, n, k, 30), exact = make_matrix(WeightFormat::F32, n, k, 30);
    const auto y = run(w, x, m, {}), y32 = run(exact, x, m, {});
    double err = 0, norm = 0;
    for (size_t i = 0; i < y.size(); ++i) err += (y[i] - y32[i]) * (y[i] - y32[i]), norm += y32[i] * y32[i];
    EXPECT_LT(std::sqrt(err / norm), rel) << weight_format_name(f);
  }
}

TEST(PackedMatmul, BadShapesAndNames) {
  EXPECT_THROW(kernels::packed_bytes(WeightFormat::Q8_0, 4, 33), ShapeError);
  EXPECT_THROW(kernels::packed_bytes(WeightFormat::Q4_0, 0, 32), ShapeError);
  EXPECT_EQ(kernels::weight_format_from_name("q4_0"), WeightFormat::Q4_0);
  try {
    kernels::weight_format_from_name("q5_k");
    FAIL() << "no exception";
  } catch (const ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("q8_0"), std::string::npos) << e.what();
  }
  EXPECT_EQ(kernels::weight_bytes(WeightFormat::Q4_0, 2, 64), 2u * 2 * 18);
  EXPECT_EQ(kernels::weight_bytes(WeightFormat::Q8_0, 2, 64), 2u * 2 * 34);
}

}  // namespace
}  // namespace cornerstone::testing
