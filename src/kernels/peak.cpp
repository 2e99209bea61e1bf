#include "cornerstone/kernels/peak.h"

#include <chrono>
#include <map>
#include <mutex>
#include <vector>

#include "cornerstone/core/cpu.h"
#include "cornerstone/core/dtype.h"
#include "cornerstone/core/parallel.h"
#include "cornerstone/kernels/gemm.h"

namespace cornerstone::kernels {

namespace avx512 {
double fma_peak_gflops(bool bf16);
}
namespace avx2 {
double fma_peak_gflops(bool bf16);
}

double fma_peak_gflops(bool bf16) {
  switch (cpu::best_isa()) {
    case cpu::Isa::Avx512: return avx512::fma_peak_gflops(bf16);
    case cpu::Isa::Avx2: return bf16 ? 0.0 : avx2::fma_peak_gflops(false);
    default: return 0.0;
  }
}

double gemm_peak_gflops(bool use_bf16) {
  static std::mutex mu;
  static std::map<std::pair<int, bool>, double> cache;
  std::lock_guard<std::mutex> lock(mu);
  const auto key = std::make_pair(num_threads(), use_bf16);
  if (auto it = cache.find(key); it != cache.end()) return it->second;

  const int64_t n = 2048;
  std::vector<float> c(static_cast<size_t>(n * n));
  std::vector<float> a(static_cast<size_t>(n * n), 0.5f), b(static_cast<size_t>(n * n), 0.25f);
  std::vector<bf16> ah(a.size(), f32_to_bf16(0.5f)), bh(b.size(), f32_to_bf16(0.25f));
  auto run = [&] {
    if (use_bf16)
      gemm_bf16(Trans::N, Trans::N, n, n, n, 1.0f, ah.data(), n, bh.data(), n, 0.0f, c.data(), n);
    else
      sgemm(Trans::N, Trans::N, n, n, n, 1.0f, a.data(), n, b.data(), n, 0.0f, c.data(), n);
  };
  run();  // warm up (JIT, page faults)
  double best = 0;
  for (int rep = 0; rep < 3; ++rep) {
    const auto t0 = std::chrono::steady_clock::now();
    run();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    best = std::max(best, 2.0 * n * n * n / s / 1e9);
  }
  cache[key] = best;
  return best;
}

}  // namespace cornerstone::kernels
