// GEMM through oneDNN. fp32 goes through dnnl_sgemm (row-major BLAS-style, JIT AVX-512 kernels);
// bf16 through a matmul primitive per shape, created once and cached.
#include "cornerstone/kernels/gemm.h"

#include <dnnl.hpp>

#include <omp.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <mutex>
#include <string>
#include <tuple>

#include "cornerstone/core/error.h"
#include "cornerstone/core/parallel.h"
#include "onednn.h"

namespace cornerstone::kernels {

namespace {

void check_status(dnnl_status_t st, const char* what) { check_onednn(st, (std::string("gemm: ") + what).c_str()); }

struct Bf16Key {
  char ta, tb;
  int64_t M, N, K, lda, ldb, ldc;
  float alpha;
  bool accumulate;
  auto tie() const { return std::tie(ta, tb, M, N, K, lda, ldb, ldc, alpha, accumulate); }
  bool operator<(const Bf16Key& o) const { return tie() < o.tie(); }
};

dnnl::memory::desc strided_desc(int64_t rows, int64_t cols, Trans t, int64_t ld, dnnl::memory::data_type dt) {
  // Logical (rows, cols); stored row-major as (rows, cols) with leading dim ld, or transposed.
  const dnnl::memory::dims strides = t == Trans::N ? dnnl::memory::dims{ld, 1} : dnnl::memory::dims{1, ld};
  return dnnl::memory::desc({rows, cols}, dt, strides);
}

struct Bf16Gemm {
  dnnl::matmul prim;
  dnnl::memory::desc a, b, c;
};

const Bf16Gemm& bf16_primitive(const Bf16Key& key) {
  static std::mutex mu;
  static std::map<Bf16Key, Bf16Gemm> cache;
  std::lock_guard<std::mutex> lock(mu);
  auto it = cache.find(key);
  if (it != cache.end()) return it->second;
  using dt = dnnl::memory::data_type;
  const auto a = strided_desc(key.M, key.K, static_cast<Trans>(key.ta), key.lda, dt::bf16);
  const auto b = strided_desc(key.K, key.N, static_cast<Trans>(key.tb), key.ldb, dt::bf16);
  const auto c = dnnl::memory::desc({key.M, key.N}, dt::f32, dnnl::memory::dims{key.ldc, 1});
  dnnl::primitive_attr attr;
  if (key.alpha != 1.0f) attr.set_output_scales(0, {key.alpha});
  if (key.accumulate) {
    dnnl::post_ops po;
    po.append_sum(1.0f);
    attr.set_post_ops(po);
  }
  dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(a, b, c), attr, onednn_engine());
  return cache.emplace(key, Bf16Gemm{dnnl::matmul(pd), a, b, c}).first->second;
}

}  // namespace

// oneDNN's own 2-thread partition of a tall product with a narrow output and a long inner
// dimension (N <= 512, K >= 2N: a transformer's second MLP layer, 4096 x 384 x 1536 in `char`)
// runs at 70-80% of the speed of two one-thread halves; other shapes are within noise either way
// (the measurements: docs/performance.md, "the banded sgemm"; `bench_gemm` re-measures them).
// Such products are split into bands of rows here.
bool sgemm_banded(int64_t M, int64_t N, int64_t K, int threads) {
  static const int mode = [] {
    const char* e = std::getenv("CORNERSTONE_SGEMM_SPLIT");
    return e ? std::atoi(e) : -1;
  }();
  if (threads < 2 || threads > 64 || M < 256 * threads) return false;
  if (mode >= 0) return mode == 1;
  return N <= 512 && K >= 2 * N;
}

void sgemm(Trans ta, Trans tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
           const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  if (M == 0 || N == 0) return;
  const int threads = omp_in_parallel() ? 1 : omp_get_max_threads();
  if (sgemm_banded(M, N, K, threads)) {
    // Each thread multiplies its own band of rows with a one-thread oneDNN GEMM (oneDNN runs
    // single-threaded inside a parallel region). Bands are multiples of 64 rows.
    dnnl_status_t status[64] = {};
    const int64_t blocks = (M + 63) / 64;
#pragma omp parallel num_threads(threads)
    {
      const int t = omp_get_thread_num();
      const Range r = split_range(blocks, omp_get_num_threads(), t);
      const int64_t m0 = r.begin * 64, m1 = std::min(M, r.end * 64);
      if (m1 > m0)
        status[t] = dnnl_sgemm(static_cast<char>(ta), static_cast<char>(tb), m1 - m0, N, K, alpha,
                               ta == Trans::N ? A + m0 * lda : A + m0, lda, B, ldb, beta, C + m0 * ldc, ldc);
    }
    for (int t = 0; t < threads; ++t) check_status(status[t], "sgemm");  // sgemm_banded: threads <= 64
    return;
  }
  check_status(dnnl_sgemm(static_cast<char>(ta), static_cast<char>(tb), M, N, K, alpha, A, lda, B, ldb, beta, C, ldc),
               "sgemm");
}

void gemm_bf16(Trans ta, Trans tb, int64_t M, int64_t N, int64_t K, float alpha, const bf16* A, int64_t lda,
               const bf16* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  if (M == 0 || N == 0) return;
  if (beta != 0.0f && beta != 1.0f) {
    // Rare: scale C first, then accumulate.
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) C[i * ldc + j] *= beta;
    beta = 1.0f;
  }
  const Bf16Key key{static_cast<char>(ta), static_cast<char>(tb), M, N, K, lda, ldb, ldc, alpha, beta == 1.0f};
  const Bf16Gemm& g = bf16_primitive(key);
  dnnl::memory am(g.a, onednn_engine(), const_cast<bf16*>(A));
  dnnl::memory bm(g.b, onednn_engine(), const_cast<bf16*>(B));
  dnnl::memory cm(g.c, onednn_engine(), C);
  dnnl::stream& st = onednn_stream();
  g.prim.execute(st, {{DNNL_ARG_SRC, am}, {DNNL_ARG_WEIGHTS, bm}, {DNNL_ARG_DST, cm}});
  st.wait();
}

}  // namespace cornerstone::kernels
