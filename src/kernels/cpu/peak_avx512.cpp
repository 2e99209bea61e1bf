// Register-only FMA loops: the machine's arithmetic peak, no memory traffic.
#include <immintrin.h>
#include <omp.h>

#include <chrono>
#include <cstdint>

namespace cornerstone::kernels::avx512 {

namespace {
constexpr int kAcc = 24;  // enough independent chains to cover FMA latency x 2 pipes
}

double fma_peak_gflops(bool bf16) {
  const int64_t iters = 20'000'000;
  float sink = 0;
  const auto t0 = std::chrono::steady_clock::now();
  int threads = 1;
#pragma omp parallel reduction(+ : sink)
  {
#pragma omp single
    threads = omp_get_num_threads();
    __m512 acc[kAcc];
    for (int i = 0; i < kAcc; ++i) acc[i] = _mm512_set1_ps(0.001f * static_cast<float>(i));
    if (bf16) {
      const __m512bh b = (__m512bh)_mm512_set1_epi16(0x3f80);  // bf16 1.0
      for (int64_t it = 0; it < iters; ++it) {
#pragma GCC unroll 24
        for (int i = 0; i < kAcc; ++i) acc[i] = _mm512_dpbf16_ps(acc[i], b, b);
      }
    } else {
      const __m512 m = _mm512_set1_ps(0.999999f), a = _mm512_set1_ps(1e-7f);
      for (int64_t it = 0; it < iters; ++it) {
#pragma GCC unroll 24
        for (int i = 0; i < kAcc; ++i) acc[i] = _mm512_fmadd_ps(acc[i], m, a);
      }
    }
    for (int i = 0; i < kAcc; ++i) sink += _mm512_reduce_add_ps(acc[i]);
  }
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  volatile float keep = sink;
  (void)keep;
  const double flops_per_op = bf16 ? 64.0 : 32.0;  // 16 lanes x (2 pairs x 2 | 1 FMA x 2)
  return flops_per_op * kAcc * static_cast<double>(iters) * threads / s / 1e9;
}

}  // namespace cornerstone::kernels::avx512
