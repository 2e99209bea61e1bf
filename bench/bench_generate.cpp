// Generation speed of a randomly initialised 124M GPT-2 (the gpt2-small shape) per weight format,
// llama-bench style: prompt processing of --prompt tokens in one pass (pp512) and decoding of
// --decode tokens one at a time from an empty cache (tg128), plus the machine's denominators:
// memory read bandwidth (a STREAM-like read of 1 GiB) and the GEMM library's peak. One JSON line
// per format (bench/generate.py puts them beside the PyTorch peer):
//
//   bench_generate --threads 2 --formats f32 bf16 q8_0 q4_0 --prompt 512 --decode 128 --reps 3
//   {"impl":"cornerstone","format":"q4_0","threads":2,"prompt_tok_s":..,"decode_tok_s":..,
//    "decode_bytes":..,"bandwidth_gbs":..,"roofline_tok_s":..,"prompt_gflops":..,"gemm_peak_gflops":..}
//
// Decode reads every weight once per token, so its ceiling is bandwidth / decode_bytes (the
// weights of the layers and the LM head; the KV cache of a <= 128-token context adds < 1%). The
// prompt pass is compute-bound: prompt_gflops counts 2 flops per weight per token plus causal
// attention, against the GEMM peak of the arithmetic the format uses (f32: sgemm; bf16, q8_0, q4_0:
// bf16 GEMM, the fastest float GEMM the machine has). Times are medians of --reps runs after a
// warm-up run.
#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cornerstone/core/cpu.h"
#include "cornerstone/core/parallel.h"
#include "cornerstone/core/profiler.h"
#include "cornerstone/infer/decoder_runner.h"
#include "cornerstone/kernels/peak.h"
#include "cornerstone/models/gpt/gpt.h"

using namespace cornerstone;

namespace {

struct Options {
  int threads = 1, reps = 3;
  int64_t prompt = 512, decode = 128;
  std::vector<std::string> formats{"f32", "bf16", "q8_0", "q4_0"};
  std::string preset = "gpt2-small";
};

[[noreturn]] void usage() {
  std::fprintf(stderr,
               "usage: bench_generate [--threads N] [--formats f32 bf16 q8_0 q4_0] [--prompt 512] [--decode 128]\n"
               "                      [--reps 3] [--preset gpt2-small]\n");
  std::exit(2);
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage();
      return argv[++i];
    };
    if (a == "--threads") o.threads = std::atoi(value().c_str());
    else if (a == "--reps") o.reps = std::atoi(value().c_str());
    else if (a == "--prompt") o.prompt = std::atol(value().c_str());
    else if (a == "--decode") o.decode = std::atol(value().c_str());
    else if (a == "--preset") o.preset = value();
    else if (a == "--formats") {
      o.formats.clear();
      while (i + 1 < argc && argv[i + 1][0] != '-') o.formats.push_back(argv[++i]);
    } else usage();
  }
  return o;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// GB/s of summing a 1 GiB buffer on all threads (each thread its own contiguous half): the rate at
// which a decode step can stream weights. Best of 5 passes.
__attribute__((target("avx2"))) double read_bandwidth_gbs() {
  const size_t n = size_t{1} << 27;  // 2^27 doubles = 1 GiB
  std::vector<double> buf(n);
#pragma omp parallel for schedule(static)
  for (size_t i = 0; i < n; ++i) buf[i] = static_cast<double>(i & 7);  // first touch by the reading thread
  double best = 0, sink = 0;
  for (int rep = 0; rep < 5; ++rep) {
    const auto t0 = std::chrono::steady_clock::now();
    double total = 0;
#pragma omp parallel reduction(+ : total)
    {
      const Range r = split_range(static_cast<int64_t>(n), omp_get_num_threads(), omp_get_thread_num());
      __m256d s0 = _mm256_setzero_pd(), s1 = s0, s2 = s0, s3 = s0;
      for (int64_t i = r.begin; i + 16 <= r.end; i += 16) {
        s0 = _mm256_add_pd(s0, _mm256_loadu_pd(&buf[i]));
        s1 = _mm256_add_pd(s1, _mm256_loadu_pd(&buf[i + 4]));
        s2 = _mm256_add_pd(s2, _mm256_loadu_pd(&buf[i + 8]));
        s3 = _mm256_add_pd(s3, _mm256_loadu_pd(&buf[i + 12]));
      }
      alignas(32) double out[4];
      _mm256_store_pd(out, _mm256_add_pd(_mm256_add_pd(s0, s1), _mm256_add_pd(s2, s3)));
      total += out[0] + out[1] + out[2] + out[3];
    }
    sink += total;
    best = std::max(best, static_cast<double>(n * sizeof(double)) / seconds_since(t0) / 1e9);
  }
  if (sink == 42.0) std::puts("");  // keep the reads
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);
  set_num_threads(o.threads);
  const models::DecoderConfig cfg = models::DecoderConfig::preset(o.preset);
  const double bandwidth = read_bandwidth_gbs();
  const models::GPT model(cfg, 1);  // random weights: speed does not depend on their values

  // Matmul flops of the prompt pass: 2 per weight per token, causal attention (QK^T and PV over
  // the visible keys), and the LM head for the last token only.
  const int64_t L = cfg.n_layers, C = cfg.d_model, T = o.prompt;
  double matrix_params = 0;
  for (const auto& [name, p] : model.named_parameters())
    if (p.ndim() == 2 && name.rfind("blocks.", 0) == 0) matrix_params += static_cast<double>(p.numel());
  const double prompt_flops = 2.0 * matrix_params * T + 4.0 * L * C * (T * (T + 1) / 2.0) + 2.0 * cfg.vocab_size * C;

  std::vector<int32_t> ids(static_cast<size_t>(std::max(o.prompt, o.decode)));
  for (size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<int32_t>((i * 7919) % static_cast<size_t>(cfg.vocab_size));

  for (const std::string& name : o.formats) {
    const kernels::WeightFormat f = kernels::weight_format_from_name(name);
    infer::DecoderRunner run(infer::InferenceWeights::from_model(model, f));
    const bool float_peak = f == kernels::WeightFormat::F32;
    const double peak = kernels::gemm_peak_gflops(/*bf16=*/!float_peak);

    std::vector<double> prompt_s, decode_s;
    for (int rep = 0; rep <= o.reps; ++rep) {  // rep 0 warms up
      infer::KVCache cache(*cfg.decoder_stack(), 1, std::min(cfg.context, o.prompt + o.decode));
      auto t0 = std::chrono::steady_clock::now();
      run.forward(cache, {{0, std::span<const int32_t>(ids.data(), static_cast<size_t>(o.prompt))}});
      const double p = seconds_since(t0);
      // Decode from an empty cache, greedy, one token per step.
      infer::KVCache dcache(*cfg.decoder_stack(), 1, std::min(cfg.context, o.decode + 1));
      int32_t tok = ids[0];
      t0 = std::chrono::steady_clock::now();
      for (int64_t s = 0; s < o.decode; ++s) {
        const Tensor l = run.forward(dcache, {{0, std::span<const int32_t>(&tok, 1)}});
        const float* row = l.data<float>();
        tok = static_cast<int32_t>(std::max_element(row, row + cfg.vocab_size) - row);
      }
      const double d = seconds_since(t0);
      if (rep > 0) prompt_s.push_back(p), decode_s.push_back(d);
    }
    const double ps = median(prompt_s), ds = median(decode_s);
    const double bytes = static_cast<double>(run.weights().decode_bytes());
    nlohmann::json j;
    j["impl"] = "cornerstone";
    j["isa"] = std::string(cpu::isa_name(cpu::isa()));
    j["format"] = name;
    j["threads"] = o.threads;
    j["prompt"] = o.prompt, j["decode"] = o.decode;
    j["prompt_tok_s"] = o.prompt / ps;
    j["decode_tok_s"] = o.decode / ds;
    j["decode_bytes"] = bytes;
    j["bandwidth_gbs"] = bandwidth;
    j["roofline_tok_s"] = bandwidth * 1e9 / bytes;
    j["decode_gbs"] = bytes * o.decode / ds / 1e9;
    j["prompt_gflops"] = prompt_flops / ps / 1e9;
    j["gemm_peak_gflops"] = peak;
    j["gemm_peak_kind"] = float_peak ? "sgemm" : "bf16";
    std::printf("%s\n", j.dump().c_str());
    std::fflush(stdout);
    if (profiler::enabled()) {  // CORNERSTONE_PROFILE=1: where the time of this format went
      profiler::report(stderr);
      profiler::reset();
    }
  }
  return 0;
}
