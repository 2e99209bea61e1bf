// Micro-benchmark of the CPU kernels: one JSON line per kernel on stdout.
//
// Memory-bound kernels report GB/s: the bytes a kernel must move at least (each input read once,
// each output written once; write-allocate traffic not counted), over the best time of several runs.
// A stream-like `add` is the yardstick for the machine's bandwidth. The fused LM head reports
// GFLOP/s (6 N V C: logits, dh and dW GEMMs), f32 and bf16, beside the same three GEMMs run unfused
// on the whole (N, V) logits. The packed matmul of inference (kernels/packed_matmul.h) reports,
// per weight format and rows M (1: one decoding sequence; 2-16: a server's batch), GB/s of weights
// read and GMAC/s, and `vs_one_row`: how much longer M rows take than one (M means perfect reuse of
// each weight byte: the compute-bound limit; 1, a free batch).
//
//   bench_kernels [--all-isas] [--filter SUBSTRING] [--reps N]
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <type_traits>
#include <vector>

#include <nlohmann/json.hpp>

#include "cornerstone/core/cpu.h"
#include "cornerstone/kernels/activation.h"
#include "cornerstone/kernels/cross_entropy.h"
#include "cornerstone/kernels/dropout.h"
#include "cornerstone/kernels/elementwise.h"
#include "cornerstone/kernels/embedding.h"
#include "cornerstone/kernels/gemm.h"
#include "cornerstone/kernels/norm.h"
#include "cornerstone/kernels/optim.h"
#include "cornerstone/kernels/packed_matmul.h"
#include "cornerstone/kernels/quant.h"
#include "cornerstone/kernels/softmax.h"

namespace k = cornerstone::kernels;
using nlohmann::json;

namespace {

struct Options {
  bool all_isas = false;
  std::string filter;
  int reps = 15;
};

// Best and median of `reps` timed calls after one warm-up. The machine is shared: when another
// process takes a core, an OpenMP barrier waits a whole scheduler slice, so the best time is the
// kernel's and the median shows the noise.
struct Timing {
  double best_ms, median_ms;
};
Timing time_ms(const std::function<void()>& fn, int reps) {
  fn();  // warm-up: first touch, caching allocator, oneDNN JIT
  std::vector<double> t(reps);
  for (double& ms : t) {
    const auto t0 = std::chrono::steady_clock::now();
    fn();
    ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  }
  std::sort(t.begin(), t.end());
  return {t.front(), t[reps / 2]};
}

std::vector<float> filled(size_t n, float lo, float hi) {
  std::vector<float> v(n);
  uint32_t x = 12345;
  for (float& f : v) {
    x = x * 1664525u + 1013904223u;
    f = lo + (hi - lo) * static_cast<float>(x >> 8) / 16777216.0f;
  }
  return v;
}

class Bench {
 public:
  explicit Bench(Options o) : opt_(std::move(o)) {}

  // A memory-bound kernel moving `bytes` per call.
  void bandwidth(const std::string& name, const json& shape, double bytes, const std::function<void()>& fn) {
    if (!selected(name)) return;
    const Timing t = time_ms(fn, opt_.reps);
    emit({{"kernel", name}, {"shape", shape}, {"ms", t.best_ms}, {"median_ms", t.median_ms},
          {"gbps", bytes / t.best_ms / 1e6}});
  }

  bool selected(const std::string& name) const {
    return opt_.filter.empty() || name.find(opt_.filter) != std::string::npos;
  }
  int reps() const { return opt_.reps; }

  void emit(json j) {
    j["isa"] = std::string(cornerstone::cpu::isa_name(cornerstone::cpu::isa()));
    j["threads"] = omp_get_max_threads();
    std::printf("%s\n", j.dump().c_str());
    std::fflush(stdout);
  }

 private:
  Options opt_;
};

void bench_memory_bound(Bench& b) {
  const int64_t N = 16384, C = 768, n = N * C;  // GPT-2 small activations, 16 x 1024 tokens: 50 MB, past L3
  const double f = sizeof(float);
  auto x = filled(n, -3, 3), y = filled(n, -1, 1), dy = filled(n, -1, 1), dx = filled(n, 0, 1);
  auto w = filled(C, 0.5f, 1.5f), bias = filled(C, -0.1f, 0.1f), dw = filled(C, 0, 0), db = filled(C, 0, 0);
  std::vector<float> mean(N), rstd(N);
  const json nc = {N, C};

  b.bandwidth("add (stream yardstick)", {n}, 3 * n * f, [&] { k::add(x.data(), dy.data(), n, y.data()); });

  b.bandwidth("layernorm_forward", nc, 2 * n * f,
              [&] {
                k::layernorm_forward(x.data(), w.data(), bias.data(), N, C, 1e-5f, y.data(), mean.data(), rstd.data());
              });
  b.bandwidth("layernorm_backward", nc, 3 * n * f, [&] {
    k::layernorm_backward(dy.data(), x.data(), w.data(), mean.data(), rstd.data(), N, C, dx.data(), false, dw.data(),
                          db.data());
  });
  b.bandwidth("rmsnorm_forward", nc, 2 * n * f,
              [&] { k::rmsnorm_forward(x.data(), w.data(), N, C, 1e-5f, y.data(), rstd.data()); });
  b.bandwidth("rmsnorm_backward", nc, 3 * n * f, [&] {
    k::rmsnorm_backward(dy.data(), x.data(), w.data(), rstd.data(), N, C, dx.data(), false, dw.data());
  });

  b.bandwidth("gelu_tanh_forward", {n}, 2 * n * f, [&] { k::gelu_forward(k::GeluKind::Tanh, x.data(), n, y.data()); });
  b.bandwidth("gelu_tanh_backward", {n}, 3 * n * f,
              [&] { k::gelu_backward(k::GeluKind::Tanh, x.data(), dy.data(), n, dx.data(), false); });
  b.bandwidth("sum_rows (bias gradient)", nc, n * f, [&] { k::sum_rows(dy.data(), N, C, db.data()); });
  b.bandwidth("gelu_tanh_backward + sum_rows", nc, 4 * n * f, [&] {
    k::gelu_backward(k::GeluKind::Tanh, x.data(), dy.data(), n, dx.data(), false);
    k::sum_rows(dx.data(), N, C, db.data());
  });
  b.bandwidth("gelu_tanh_backward_bias (fused)", nc, 3 * n * f,
              [&] { k::gelu_backward_bias(k::GeluKind::Tanh, x.data(), dy.data(), N, C, dx.data(), nullptr, db.data()); });
  b.bandwidth("gelu_erf_forward", {n}, 2 * n * f, [&] { k::gelu_forward(k::GeluKind::Erf, x.data(), n, y.data()); });
  b.bandwidth("gelu_erf_backward", {n}, 3 * n * f,
              [&] { k::gelu_backward(k::GeluKind::Erf, x.data(), dy.data(), n, dx.data(), false); });
  b.bandwidth("silu_forward", {n}, 2 * n * f, [&] { k::silu_forward(x.data(), n, y.data()); });
  b.bandwidth("silu_backward", {n}, 3 * n * f, [&] { k::silu_backward(x.data(), dy.data(), n, dx.data(), false); });
  // SwiGLU on (N/2, 2F) -> (N/2, F) with F = C: the same n elements of fused projection.
  b.bandwidth("swiglu_forward", {N / 2, 2 * C}, 1.5 * n * f, [&] { k::swiglu_forward(x.data(), N / 2, C, y.data()); });
  b.bandwidth("swiglu_backward", {N / 2, 2 * C}, 2.5 * n * f,
              [&] { k::swiglu_backward(x.data(), dy.data(), N / 2, C, dx.data(), false); });

  // Attention-probability-sized rows (T = 1024).
  const int64_t T = 1024, R = n / T;
  b.bandwidth("softmax_forward", {R, T}, 2 * n * f, [&] { k::softmax_forward(x.data(), R, T, y.data()); });
  b.bandwidth("softmax_backward", {R, T}, 3 * n * f,
              [&] { k::softmax_backward(y.data(), dy.data(), R, T, dx.data(), false); });

  // Cross-entropy over GPT-2 logits (V = 50257) for 128 rows.
  const int64_t V = 50257, NR = 128;
  auto logits = filled(NR * V, -5, 5), dlogits = filled(NR * V, 0, 0);
  std::vector<int32_t> targets(NR);
  for (int64_t i = 0; i < NR; ++i) targets[i] = static_cast<int32_t>((i * 7919) % V);
  std::vector<float> losses(NR), lse(NR), dloss(NR, 1.0f / NR);
  b.bandwidth("cross_entropy_forward", {NR, V}, NR * V * f,
              [&] { k::cross_entropy_forward(logits.data(), targets.data(), NR, V, losses.data(), lse.data()); });
  b.bandwidth("cross_entropy_backward", {NR, V}, 2 * NR * V * f, [&] {
    k::cross_entropy_backward(logits.data(), lse.data(), targets.data(), dloss.data(), NR, V, dlogits.data(), false);
  });

  // Token embedding lookup: N ids into a (V, C) table; the backward reads dout and updates rows.
  auto table = filled(V * C, -1, 1), dtable = filled(V * C, 0, 0);
  std::vector<int32_t> ids(N);
  for (int64_t i = 0; i < N; ++i) ids[i] = static_cast<int32_t>((i * 2654435761u) % V);
  b.bandwidth("embedding_forward", nc, 2 * n * f,
              [&] { k::embedding_forward(table.data(), ids.data(), N, C, y.data()); });
  b.bandwidth("embedding_backward", nc, 3 * n * f,
              [&] { k::embedding_backward(dy.data(), ids.data(), N, C, dtable.data()); });

  std::vector<uint8_t> mask((n + 7) / 8);
  b.bandwidth("dropout_forward", {n}, 2 * n * f + n / 8.0,
              [&] { k::dropout_forward(x.data(), n, 0.1f, 42, 0, y.data(), mask.data()); });
  b.bandwidth("dropout_backward", {n}, 2 * n * f + n / 8.0,
              [&] { k::dropout_backward(dy.data(), mask.data(), n, 0.1f, dx.data(), false); });

  // AdamW over 124M-parameter-model-sized chunks would take long; n = 6.3M floats is past every cache.
  auto m = filled(n, -1e-3f, 1e-3f), v = filled(n, 0, 1e-6f), p = filled(n, -1, 1);
  k::AdamWHyper h;
  h.weight_decay = 0.1;
  b.bandwidth("adamw_step", {n}, 7 * n * f, [&] {
    ++h.step;
    k::adamw_step(p.data(), dy.data(), m.data(), v.data(), n, h);
  });
  volatile double sink = 0;
  b.bandwidth("sum_squares", {n}, n * f, [&] { sink = sink + k::sum_squares(x.data(), n); });
}

// One shape and precision of the fused head: T is float or bf16 (operands), fp32 accumulation.
template <typename T>
void bench_lm_head_shape(Bench& b, int64_t N, int64_t C, int64_t V) {
  constexpr bool kBf16 = std::is_same_v<T, cornerstone::bf16>;
  auto as_t = [](const std::vector<float>& x) {
    std::vector<T> o(x.size());
    if constexpr (kBf16)
      k::f32_to_bf16(x.data(), static_cast<int64_t>(x.size()), o.data());
    else
      o = x;
    return o;
  };
  const auto h = as_t(filled(N * C, -1, 1)), w = as_t(filled(V * C, -0.05f, 0.05f));
  auto dh = filled(N * C, 0, 0), dw = filled(V * C, 0, 0), db = filled(V, 0, 0);
  std::vector<int32_t> targets(N);
  for (int64_t i = 0; i < N; ++i) targets[i] = static_cast<int32_t>((i * 7919) % V);
  std::vector<float> losses(N);
  const int reps = std::max(3, b.reps() / 5);
  const double flops = 6.0 * N * V * C;
  const Timing fused = time_ms(
      [&] {
        if constexpr (kBf16)
          k::lm_head_cross_entropy_bf16(h.data(), w.data(), nullptr, targets.data(), N, C, V, 1.0f / N, losses.data(),
                                        dh.data(), dw.data(), db.data());
        else
          k::lm_head_cross_entropy(h.data(), w.data(), nullptr, targets.data(), N, C, V, 1.0f / N, losses.data(),
                                   dh.data(), dw.data(), db.data());
      },
      reps);
  // The unfused path holds all (N, V) logits (412 MB for GPT-2 at N = 2048): the GEMMs alone.
  std::vector<float> logits(N * V, 0.0f);
  std::vector<T> g(N * V);
  const Timing gemms = time_ms(
      [&] {
        if constexpr (kBf16) {
          k::gemm_bf16(k::Trans::N, k::Trans::T, N, V, C, 1.0f, h.data(), C, w.data(), C, 0.0f, logits.data(), V);
          k::gemm_bf16(k::Trans::N, k::Trans::N, N, C, V, 1.0f, g.data(), V, w.data(), C, 0.0f, dh.data(), C);
          k::gemm_bf16(k::Trans::T, k::Trans::N, V, C, N, 1.0f, g.data(), V, h.data(), C, 1.0f, dw.data(), C);
        } else {
          k::sgemm(k::Trans::N, k::Trans::T, N, V, C, 1.0f, h.data(), C, w.data(), C, 0.0f, logits.data(), V);
          k::sgemm(k::Trans::N, k::Trans::N, N, C, V, 1.0f, logits.data(), V, w.data(), C, 0.0f, dh.data(), C);
          k::sgemm(k::Trans::T, k::Trans::N, V, C, N, 1.0f, logits.data(), V, h.data(), C, 1.0f, dw.data(), C);
        }
      },
      reps);
  b.emit({{"kernel", kBf16 ? "lm_head_cross_entropy_bf16" : "lm_head_cross_entropy"},
          {"shape", {{"N", N}, {"C", C}, {"V", V}}},
          {"ms", fused.best_ms},
          {"median_ms", fused.median_ms},
          {"gflops", flops / fused.best_ms / 1e6},
          {"gemm_only_ms", gemms.best_ms},
          {"gemm_only_gflops", flops / gemms.best_ms / 1e6},
          {"fused_vs_gemm", gemms.best_ms / fused.best_ms}});
}

void bench_lm_head(Bench& b) {
  if (!b.selected("lm_head_cross_entropy")) return;
  // GPT-2 vocabulary; N = 2048 rows: the tiny preset's step (8 x 256) and gpt2-small's (2 x 1024).
  for (const int64_t C : {384, 768}) {
    bench_lm_head_shape<float>(b, 2048, C, 50257);
    bench_lm_head_shape<cornerstone::bf16>(b, 2048, C, 50257);
  }
}

// y (M, N) = x (M, K) W^T through packed weights, on gpt2-small's MLP shapes (its heaviest layers).
void bench_packed(Bench& b) {
  if (!b.selected("packed_matmul")) return;
  for (const auto& [n, k] : std::vector<std::pair<int64_t, int64_t>>{{3072, 768}, {768, 3072}}) {
    const auto w = filled(static_cast<size_t>(n * k), -0.05f, 0.05f);
    for (const k::WeightFormat f : {k::WeightFormat::F32, k::WeightFormat::BF16, k::WeightFormat::Q8_0, k::WeightFormat::Q4_0}) {
      std::vector<char> storage(k::packed_bytes(f, n, k) + 64);
      void* packed = storage.data() + (64 - reinterpret_cast<uintptr_t>(storage.data()) % 64) % 64;
      if (f == k::WeightFormat::Q8_0 || f == k::WeightFormat::Q4_0) {
        const bool q8 = f == k::WeightFormat::Q8_0;
        std::vector<k::BlockQ8_0> b8(q8 ? static_cast<size_t>(n * k / 32) : 0);
        std::vector<k::BlockQ4_0> b4(q8 ? 0 : static_cast<size_t>(n * k / 32));
        for (int64_t r = 0; r < n; ++r) {
          if (q8)
            k::quantize_row_q8_0(w.data() + r * k, k, b8.data() + r * (k / 32));
          else
            k::quantize_row_q4_0(w.data() + r * k, k, b4.data() + r * (k / 32));
        }
        if (q8)
          k::pack_weights_q8_0(b8.data(), n, k, packed);
        else
          k::pack_weights_q4_0(b4.data(), n, k, packed);
      } else {
        k::pack_weights(f, w.data(), n, k, k, 1, packed);
      }
      const k::PackedView view{f, n, k, packed};
      const double bytes = static_cast<double>(k::weight_bytes(f, n, k));
      double one_row_ms = 0;
      for (const int64_t m : {1, 2, 4, 8, 16}) {
        const auto x = filled(static_cast<size_t>(m * k), -1, 1);
        std::vector<float> y(static_cast<size_t>(m * n));
        const Timing t = time_ms([&] { k::packed_matmul(view, x.data(), m, k, nullptr, y.data(), n); }, b.reps());
        if (m == 1) one_row_ms = t.best_ms;
        b.emit({{"kernel", "packed_matmul"},
                {"format", std::string(k::weight_format_name(f))},
                {"shape", {{"M", m}, {"N", n}, {"K", k}}},
                {"ms", t.best_ms},
                {"median_ms", t.median_ms},
                {"gbps", bytes / t.best_ms / 1e6},
                {"gmacs", static_cast<double>(m * n * k) / t.best_ms / 1e6},
                {"vs_one_row", t.best_ms / one_row_ms}});
      }
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  Options opt;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--all-isas") {
      opt.all_isas = true;
    } else if (a == "--filter" && i + 1 < argc) {
      opt.filter = argv[++i];
    } else if (a == "--reps" && i + 1 < argc) {
      opt.reps = std::max(1, std::atoi(argv[++i]));
    } else {
      std::fprintf(stderr, "usage: bench_kernels [--all-isas] [--filter SUBSTRING] [--reps N]\n");
      return 2;
    }
  }
  using cornerstone::cpu::Isa;
  std::vector<Isa> isas = {cornerstone::cpu::isa()};
  if (opt.all_isas) {
    isas = {Isa::Scalar};
    if (cornerstone::cpu::best_isa() >= Isa::Avx2) isas.push_back(Isa::Avx2);
    if (cornerstone::cpu::best_isa() == Isa::Avx512) isas.push_back(Isa::Avx512);
  }
  Bench b(opt);
  for (const Isa isa : isas) {
    cornerstone::cpu::set_isa(isa);
    bench_memory_bound(b);
  }
  cornerstone::cpu::set_isa(cornerstone::cpu::best_isa());
  bench_lm_head(b);  // GEMM-bound: oneDNN picks its own ISA
  bench_packed(b);
  return 0;
}
