// GEMM on transformer shapes: oneDNN (the engine's GEMM) beside OpenBLAS, against the machine's
// register-only peak. One JSON object per line on stdout; bench/gemm.py prints the table.
//
//   bench_gemm [--threads N] [--quick]
#include <cblas.h>
#include <omp.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "cornerstone/core/dtype.h"
#include "cornerstone/core/parallel.h"
#include "cornerstone/kernels/gemm.h"
#include "cornerstone/kernels/peak.h"

using namespace cornerstone;
using kernels::Trans;

namespace {

struct GemmShape {
  const char* name;
  char ta, tb;
  int64_t M, N, K;
};

// The products of one training step of GPT-2 tiny (d 384, 2048 tokens) and small (d 768, 4096
// tokens): forward y = x W^T (N,T), input gradient dx = dy W (N,N), weight gradient dW = dy^T x (T,N).
const GemmShape kShapes[] = {
    {"tiny.qkv.fwd", 'N', 'T', 2048, 1152, 384},   {"tiny.qkv.dx", 'N', 'N', 2048, 384, 1152},
    {"tiny.qkv.dw", 'T', 'N', 1152, 384, 2048},    {"tiny.fc.fwd", 'N', 'T', 2048, 1536, 384},
    {"tiny.proj.fwd", 'N', 'T', 2048, 384, 1536},  {"tiny.lmhead.chunk", 'N', 'T', 256, 50304, 384},
    {"small.qkv.fwd", 'N', 'T', 4096, 2304, 768},  {"small.fc.fwd", 'N', 'T', 4096, 3072, 768},
    {"small.proj.dx", 'N', 'N', 4096, 3072, 768},  {"small.fc.dw", 'T', 'N', 3072, 768, 4096},
    {"char.proj.fwd", 'N', 'T', 4096, 384, 384},   {"char.fc2.fwd", 'N', 'T', 4096, 384, 1536},
    {"char.qkv.dx", 'N', 'N', 4096, 384, 1152},    {"char.fc.dx", 'N', 'N', 4096, 384, 1536},
    // The MLP's second layer of bert-mini (d 256) and of a d 512 model: tall, narrow, long K
    // (kernels::sgemm's banded path).
    {"bert-mini.fc2.fwd", 'N', 'T', 4096, 256, 1024}, {"d512.fc2.fwd", 'N', 'T', 4096, 512, 2048},
};

double seconds_per_call(const std::function<void()>& f, double flops) {
  f();  // warm-up: JIT and first-touch
  const int reps = std::max(2, static_cast<int>(3e10 / flops));
  double best = 1e30;
  for (int round = 0; round < 3; ++round) {
    const auto t0 = std::chrono::steady_clock::now();
    for (int r = 0; r < reps; ++r) f();
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / reps);
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 0;
  bool quick = false;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--threads") && i + 1 < argc) threads = std::atoi(argv[++i]);
    if (!std::strcmp(argv[i], "--quick")) quick = true;
  }
  set_num_threads(threads);
  openblas_set_num_threads(num_threads());
  const int t = num_threads();

  std::printf("{\"kind\":\"peak\",\"threads\":%d,\"fp32_fma_gflops\":%.1f,\"bf16_dot_gflops\":%.1f}\n", t,
              kernels::fma_peak_gflops(false), kernels::fma_peak_gflops(true));
  std::fflush(stdout);
  for (const GemmShape& s : kShapes) {
    if (quick && std::strncmp(s.name, "small", 5) == 0) continue;
    const int64_t M = s.M, N = s.N, K = s.K;
    const int64_t lda = s.ta == 'N' ? K : M, ldb = s.tb == 'N' ? N : K;
    std::vector<float> A(static_cast<size_t>(M * K)), B(static_cast<size_t>(K * N)), C(static_cast<size_t>(M * N));
    for (size_t i = 0; i < A.size(); ++i) A[i] = static_cast<float>(i % 13) * 0.01f;
    for (size_t i = 0; i < B.size(); ++i) B[i] = static_cast<float>(i % 7) * 0.01f;
    std::vector<bf16> Ah(A.size()), Bh(B.size());
    for (size_t i = 0; i < A.size(); ++i) Ah[i] = f32_to_bf16(A[i]);
    for (size_t i = 0; i < B.size(); ++i) Bh[i] = f32_to_bf16(B[i]);
    const double flops = 2.0 * M * N * K;
    const Trans ta = static_cast<Trans>(s.ta), tb = static_cast<Trans>(s.tb);
    const double onednn = seconds_per_call(
        [&] { kernels::sgemm(ta, tb, M, N, K, 1.0f, A.data(), lda, B.data(), ldb, 0.0f, C.data(), N); }, flops);
    const double openblas = seconds_per_call(
        [&] {
          cblas_sgemm(CblasRowMajor, s.ta == 'N' ? CblasNoTrans : CblasTrans, s.tb == 'N' ? CblasNoTrans : CblasTrans,
                      M, N, K, 1.0f, A.data(), lda, B.data(), ldb, 0.0f, C.data(), N);
        },
        flops);
    const double onednn_bf16 = seconds_per_call(
        [&] { kernels::gemm_bf16(ta, tb, M, N, K, 1.0f, Ah.data(), lda, Bh.data(), ldb, 0.0f, C.data(), N); }, flops);
    std::printf(
        "{\"kind\":\"gemm\",\"threads\":%d,\"shape\":\"%s\",\"trans\":\"%c%c\",\"M\":%ld,\"N\":%ld,\"K\":%ld,"
        "\"onednn_f32_gflops\":%.1f,\"openblas_f32_gflops\":%.1f,\"onednn_bf16_gflops\":%.1f}\n",
        t, s.name, s.ta, s.tb, static_cast<long>(M), static_cast<long>(N), static_cast<long>(K), flops / onednn / 1e9,
        flops / openblas / 1e9, flops / onednn_bf16 / 1e9);
    std::fflush(stdout);
  }
  return 0;
}
