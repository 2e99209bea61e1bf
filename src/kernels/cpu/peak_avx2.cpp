// Register-only FMA loop for AVX2 machines (no bf16 dot product there).
#include <immintrin.h>
#include <omp.h>

#include <chrono>
#include <cstdint>

namespace cornerstone::kernels::avx2 {

double fma_peak_gflops(bool /*bf16*/) {
  constexpr int kAcc = 12;
  const int64_t iters = 20'000'000;
  float sink = 0;
  int threads = 1;
  const auto t0 = std::chrono::steady_clock::now();
#pragma omp parallel reduction(+ : sink)
  {
#pragma omp single
    threads = omp_get_num_threads();
    __m256 acc[kAcc];
    for (int i = 0; i < kAcc; ++i) acc[i] = _mm256_set1_ps(0.001f * static_cast<float>(i));
    const __m256 m = _mm256_set1_ps(0.999999f), a = _mm256_set1_ps(1e-7f);
    for (int64_t it = 0; it < iters; ++it) {
#pragma GCC unroll 12
      for (int i = 0; i < kAcc; ++i) acc[i] = _mm256_fmadd_ps(acc[i], m, a);
    }
    alignas(32) float out[8];
    for (int i = 0; i < kAcc; ++i) {
      _mm256_store_ps(out, acc[i]);
      for (float v : out) sink += v;
    }
  }
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  volatile float keep = sink;
  (void)keep;
  return 16.0 * kAcc * static_cast<double>(iters) * threads / s / 1e9;
}

}  // namespace cornerstone::kernels::avx2
