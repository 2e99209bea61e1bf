// The GEMM wrappers against a double-precision reference, for every transpose combination, with
// strided operands, beta 0 and 1, and thread counts that take oneDNN's own partition and the
// banded one (tall, narrow products split into bands of rows per thread, kernels/gemm.cpp).
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "cornerstone/core/rng.h"
#include "cornerstone/kernels/gemm.h"
#include "kernel_test.h"

using namespace cornerstone;
using namespace cornerstone::testing;
using kernels::Trans;

namespace {

struct Case {
  Trans ta, tb;
  int64_t M, N, K;
};

std::vector<float> random_matrix(int64_t n, uint64_t seed) {
  Rng rng(seed);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = rng.normal();
  return v;
}

// C = alpha op(A) op(B) + beta C0 in double; A is (M, K) or (K, M) with leading dimension lda.
std::vector<double> reference(const Case& c, float alpha, const std::vector<float>& A, int64_t lda,
                              const std::vector<float>& B, int64_t ldb, float beta, const std::vector<float>& C0, int64_t ldc) {
  std::vector<double> C(C0.begin(), C0.end());
  for (int64_t i = 0; i < c.M; ++i)
    for (int64_t j = 0; j < c.N; ++j) {
      double s = 0;
      for (int64_t k = 0; k < c.K; ++k) {
        const double a = c.ta == Trans::N ? A[i * lda + k] : A[k * lda + i];
        const double b = c.tb == Trans::N ? B[k * ldb + j] : B[j * ldb + k];
        s += a * b;
      }
      C[i * ldc + j] = alpha * s + (beta == 0.0f ? 0.0 : beta * C[i * ldc + j]);
    }
  return C;
}

void check(const Case& c, float alpha, float beta) {
  SCOPED_TRACE(::testing::Message() << "op " << static_cast<char>(c.ta) << static_cast<char>(c.tb) << " M " << c.M << " N "
                                    << c.N << " K " << c.K << " alpha " << alpha << " beta " << beta);
  // Leading dimensions wider than the matrices: the wrappers must honour them.
  const int64_t lda = (c.ta == Trans::N ? c.K : c.M) + 3, ldb = (c.tb == Trans::N ? c.N : c.K) + 5, ldc = c.N + 7;
  const auto A = random_matrix((c.ta == Trans::N ? c.M : c.K) * lda, 1);
  const auto B = random_matrix((c.tb == Trans::N ? c.K : c.N) * ldb, 2);
  const auto C0 = random_matrix(c.M * ldc, 3);
  const auto want = reference(c, alpha, A, lda, B, ldb, beta, C0, ldc);
  const double tol = 1e-5 * std::sqrt(static_cast<double>(c.K)) * 4;  // sums of K unit normals
  for (int threads : {1, 2, 3}) {
    SCOPED_TRACE(::testing::Message() << "threads " << threads);
    auto C = C0;
    {
      ThreadsScope scope(threads);
      kernels::sgemm(c.ta, c.tb, c.M, c.N, c.K, alpha, A.data(), lda, B.data(), ldb, beta, C.data(), ldc);
    }
    int64_t bad = 0;
    for (int64_t i = 0; i < c.M; ++i)
      for (int64_t j = 0; j < c.N; ++j)
        if (std::abs(C[i * ldc + j] - want[i * ldc + j]) > tol * (1 + std::abs(want[i * ldc + j])) && bad++ < 3)
          ADD_FAILURE() << "C[" << i << "][" << j << "] = " << C[i * ldc + j] << ", want " << want[i * ldc + j];
    EXPECT_EQ(bad, 0);
    for (int64_t i = 0; i < c.M; ++i)  // the padding between rows is never written
      for (int64_t j = c.N; j < ldc; ++j) ASSERT_EQ(C[i * ldc + j], C0[i * ldc + j]);
  }
}

}  // namespace

TEST(Sgemm, MatchesADoubleReferenceOnEveryPathAndTranspose) {
  // Narrow outputs (N <= 512, K >= 2N) over many rows take the banded path at 2 and 3 threads, including
  // row counts that are not a multiple of the 64-row band; the others oneDNN's own partition.
  const Case banded[] = {{Trans::N, Trans::T, 1100, 96, 200}, {Trans::N, Trans::N, 1100, 96, 200},
                         {Trans::T, Trans::N, 1100, 96, 200}, {Trans::T, Trans::T, 1100, 96, 200},
                         {Trans::N, Trans::T, 800, 200, 400}};
  for (const Case& c : banded) {
    EXPECT_TRUE(kernels::sgemm_banded(c.M, c.N, c.K, 2)) << c.M << "x" << c.N << "x" << c.K;
    EXPECT_TRUE(kernels::sgemm_banded(c.M, c.N, c.K, 3)) << c.M << "x" << c.N << "x" << c.K;
    EXPECT_FALSE(kernels::sgemm_banded(c.M, c.N, c.K, 1));
  }
  const Case shapes[] = {{Trans::N, Trans::T, 130, 700, 33}, {Trans::T, Trans::N, 64, 600, 500}, {Trans::N, Trans::N, 1024, 40, 20}};
  for (const Case& c : banded)
    for (float beta : {0.0f, 1.0f}) check(c, beta == 0.0f ? 1.0f : 0.5f, beta);
  for (const Case& c : shapes)
    for (float beta : {0.0f, 1.0f}) check(c, beta == 0.0f ? 1.0f : 0.5f, beta);
}

TEST(Sgemm, BandedResultsDoNotDependOnTheThreadCountAbove1) {
  // A row's band changes with the thread count, but a row's sum does not: each band is the same
  // one-thread product restricted to its rows.
  const int64_t M = 2048, N = 384, K = 1536;
  ASSERT_TRUE(kernels::sgemm_banded(M, N, K, 2) && kernels::sgemm_banded(M, N, K, 3));
  const auto A = random_matrix(M * K, 4), B = random_matrix(K * N, 5);
  std::vector<std::vector<float>> out;
  for (int threads : {2, 3}) {
    ThreadsScope scope(threads);
    std::vector<float> C(static_cast<size_t>(M * N));
    kernels::sgemm(Trans::N, Trans::N, M, N, K, 1.0f, A.data(), K, B.data(), N, 0.0f, C.data(), N);
    out.push_back(std::move(C));
  }
  EXPECT_TRUE(bitwise_equal(out[0], out[1]));
}
