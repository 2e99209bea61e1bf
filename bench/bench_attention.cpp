// Fused attention timings, one JSON line per configuration (bench/attention.sh puts them beside the
// PyTorch composite from bench/attention_peer.py):
//
//   bench_attention --threads 2 --B 8 --H 12 --D 64 --T 256 512 1024
//   {"impl":"cornerstone","isa":"avx512","threads":2,"B":8,"H":12,"Hkv":12,"Tq":1024,"T":1024,"D":64,
//    "fwd_ms":..,"fwdbwd_ms":..,"fwd_gflops":..,"fwdbwd_gflops":..}
//
// --decode times the forward of q_len = 1 against a cache of T keys (no backward): the KV-cache step.
// GFLOP/s count useful work only, the convention of the FlashAttention papers: the forward is
// 4 * B * H * D * (visible query-key pairs), the backward 2.5 times that (it recomputes the scores,
// which is not counted). Times are the median of --reps runs after one warm-up run.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "cornerstone/core/cpu.h"
#include "cornerstone/core/parallel.h"
#include "cornerstone/kernels/attention.h"

namespace ck = cornerstone::kernels;

namespace {

struct Options {
  int threads = 1, reps = 5;
  int64_t B = 8, H = 12, Hkv = 0, D = 64;
  std::vector<int64_t> T{256, 512, 1024};
  bool decode = false, causal = true;
};

[[noreturn]] void usage() {
  std::fprintf(stderr,
               "usage: bench_attention [--threads N] [--B n] [--H n] [--Hkv n] [--D n] [--T n ...] [--reps n]\n"
               "                       [--decode] [--full]\n");
  std::exit(2);
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> long {
      if (i + 1 >= argc) usage();
      return std::atol(argv[++i]);
    };
    if (a == "--threads") o.threads = static_cast<int>(next());
    else if (a == "--reps") o.reps = static_cast<int>(next());
    else if (a == "--B") o.B = next();
    else if (a == "--H") o.H = next();
    else if (a == "--Hkv") o.Hkv = next();
    else if (a == "--D") o.D = next();
    else if (a == "--decode") o.decode = true;
    else if (a == "--full") o.causal = false;
    else if (a == "--T") {
      o.T.clear();
      while (i + 1 < argc && argv[i + 1][0] != '-') o.T.push_back(std::atol(argv[++i]));
    } else usage();
  }
  if (o.Hkv == 0) o.Hkv = o.H;
  return o;
}

template <class F>
double median_ms(int reps, F&& f) {
  f();  // warm-up: first touch of the buffers, OpenMP team start
  std::vector<double> t;
  for (int r = 0; r < reps; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    t.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

std::vector<float> filled(size_t n, uint32_t seed) {
  std::vector<float> v(n);
  for (auto& x : v) {
    seed = seed * 1664525u + 1013904223u;
    x = static_cast<float>(seed >> 8) / 16777216.0f * 2.0f - 1.0f;
  }
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);
  cornerstone::set_num_threads(o.threads);
  for (int64_t T : o.T) {
    const int64_t Tq = o.decode ? 1 : T, B = o.B, H = o.H, Hkv = o.Hkv, D = o.D;
    ck::AttentionDims dims;
    dims.batch = B, dims.q_len = Tq, dims.kv_len = T, dims.n_heads = H, dims.n_kv_heads = Hkv, dims.head_dim = D;
    dims.scale = 1.0f / std::sqrt(static_cast<float>(D)), dims.causal = o.causal;

    // q, out, dout, dq: (B, Tq, H, D); k, v, dk, dv: (B, T, Hkv, D); lse: (B, H, Tq).
    std::vector<float> q = filled(B * Tq * H * D, 1), k = filled(B * T * Hkv * D, 2), v = filled(B * T * Hkv * D, 3);
    std::vector<float> dout = filled(B * Tq * H * D, 4), out(q.size()), dq(q.size()), dk(k.size()), dv(v.size());
    std::vector<float> lse(B * H * Tq);
    auto qv = [&](std::vector<float>& x) { return ck::HeadsView<float>{x.data(), Tq * H * D, H * D, D}; };
    auto kv = [&](std::vector<float>& x) { return ck::HeadsView<float>{x.data(), T * Hkv * D, Hkv * D, D}; };
    auto c = [](ck::HeadsView<float> x) {
      return ck::HeadsView<const float>{x.data, x.batch_stride, x.token_stride, x.head_stride};
    };

    auto forward = [&] { ck::attention_forward(dims, c(qv(q)), c(kv(k)), c(kv(v)), qv(out), lse.data()); };
    auto backward = [&] {
      ck::attention_backward(dims, c(qv(q)), c(kv(k)), c(kv(v)), c(qv(out)), c(qv(dout)), lse.data(), qv(dq), kv(dk),
                             kv(dv));
    };
    const double fwd_ms = median_ms(o.reps, forward);
    const double fwdbwd_ms = o.decode ? 0.0 : median_ms(o.reps, [&] { forward(), backward(); });

    // Visible (query, key) pairs: queries sit at positions T - Tq .. T - 1.
    double pairs = 0;
    for (int64_t i = 0; i < Tq; ++i) pairs += o.causal ? static_cast<double>(T - Tq + i + 1) : static_cast<double>(T);
    const double fwd_flop = 4.0 * B * H * D * pairs;
    std::printf(
        "{\"impl\":\"cornerstone\",\"isa\":\"%s\",\"threads\":%d,\"B\":%ld,\"H\":%ld,\"Hkv\":%ld,\"Tq\":%ld,\"T\":%ld,"
        "\"D\":%ld,\"causal\":%s,\"fwd_ms\":%.3f,\"fwdbwd_ms\":%.3f,\"fwd_gflops\":%.1f,\"fwdbwd_gflops\":%.1f}\n",
        std::string(cornerstone::cpu::isa_name(cornerstone::cpu::isa())).c_str(), o.threads, static_cast<long>(B),
        static_cast<long>(H), static_cast<long>(Hkv), static_cast<long>(Tq), static_cast<long>(T), static_cast<long>(D),
        o.causal ? "true" : "false", fwd_ms, fwdbwd_ms, fwd_flop / fwd_ms * 1e-6,
        o.decode ? 0.0 : 3.5 * fwd_flop / fwdbwd_ms * 1e-6);
    std::fflush(stdout);
  }
  return 0;
}
