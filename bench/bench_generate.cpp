// Generation speed of a randomly initialised 124M GPT-2 (the gpt2-small shape) per weight format,
// llama-bench style: prompt processing of --prompt tokens in one pass (pp512) and decoding of
// --decode tokens one at a time from an empty cache (tg128), plus the machine's denominators:
// read bandwidth at each format's working set (a buffer of its decode bytes read over and over;
// also of 1 GiB, DRAM's) and the GEMM library's peak. One JSON line
// per format (bench/generate.py puts them beside the PyTorch peer):
//
//   bench_generate --threads 2 --formats f32 bf16 q8_0 q4_0 --prompt 512 --decode 128 --reps 3
//   {"impl":"cornerstone","format":"q4_0","threads":2,"prompt_tok_s":..,"decode_tok_s":..,
//    "decode_bytes":..,"bandwidth_gbs":..,"dram_bandwidth_gbs":..,"roofline_tok_s":..,"prompt_gflops":..,"gemm_peak_gflops":..}
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

// GB/s of reading a buffer of `bytes` over and over on all threads, each thread its own contiguous
// part (first touched by the thread that reads it) as `streams` streams read side by side (a
// decode tile reads up to 8 weight panels at once); every round streams the buffer as many times
// as make >= 1 GiB, best of 5 rounds. Decode reads its weights once per token, in the same order every token, so
// this is its ceiling for a working set of that size: a model that fits in the last-level cache
// (q4_0 and q8_0 gpt2-small do in a 260 MiB L3) is read at cache bandwidth, not DRAM's, and a
// 1 GiB probe would understate its roofline.
__attribute__((target("avx2"))) double read_bandwidth_gbs(size_t bytes, int64_t streams) {
  constexpr int64_t kMaxStreams = 8, kLine = 8;  // doubles per 64-byte line
  const int64_t kStreams = std::clamp<int64_t>(streams, 1, kMaxStreams);
  const size_t n = std::max<size_t>(bytes / sizeof(double), 1 << 16);
  const size_t passes = std::max<size_t>(1, (size_t{1} << 30) / (n * sizeof(double)));
  std::vector<double> buf(n);
#pragma omp parallel
  {
    const Range r = split_range(static_cast<int64_t>(n), omp_get_num_threads(), omp_get_thread_num());
    for (int64_t i = r.begin; i < r.end; ++i) buf[static_cast<size_t>(i)] = static_cast<double>(i & 7);
  }
  double best = 0, sink = 0;
  for (int round = 0; round <= 5; ++round) {  // round 0 warms the cache and the threads
    const auto t0 = std::chrono::steady_clock::now();
    double total = 0;
    int64_t read = 0;  // doubles read per pass: each thread's streams' whole lines (a few left over are not)
#pragma omp parallel reduction(+ : total, read)
    {
      const Range r = split_range(static_cast<int64_t>(n), omp_get_num_threads(), omp_get_thread_num());
      const int64_t len = (r.end - r.begin) / kStreams / kLine * kLine;  // doubles per stream, whole lines
      const double* base = buf.data() + r.begin;
      __m256d s[kMaxStreams];
      for (auto& x : s) x = _mm256_setzero_pd();
      for (size_t pass = 0; pass < passes; ++pass)
        for (int64_t i = 0; i < len; i += kLine)
          for (int64_t k = 0; k < kStreams; ++k) {
            const double* p = base + k * len + i;
            s[k] = _mm256_add_pd(s[k], _mm256_add_pd(_mm256_loadu_pd(p), _mm256_loadu_pd(p + 4)));
          }
      __m256d all = s[0];
      for (int64_t k = 1; k < kStreams; ++k) all = _mm256_add_pd(all, s[k]);
      alignas(32) double out[4];
      _mm256_store_pd(out, all);
      total += out[0] + out[1] + out[2] + out[3];
      read += kStreams * len;
    }
    sink += total;
    if (round > 0) best = std::max(best, static_cast<double>(passes) * static_cast<double>(read) * sizeof(double) / seconds_since(t0) / 1e9);
  }
  if (sink == 42.0) std::puts("");  // keep the reads
  return best;
}

// The faster of one stream and eight per thread: which pattern reads faster depends on the
// machine and on whether the buffer fits in the last-level cache (measured both ways here).
double best_read_bandwidth_gbs(size_t bytes) { return std::max(read_bandwidth_gbs(bytes, 1), read_bandwidth_gbs(bytes, 8)); }

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);
  set_num_threads(o.threads);
  const models::DecoderConfig cfg = models::DecoderConfig::preset(o.preset);
  const double dram_bandwidth = best_read_bandwidth_gbs(size_t{1} << 30);  // larger than any last-level cache here
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
    const double bandwidth = best_read_bandwidth_gbs(run.weights().decode_bytes());  // at this format's working set
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
    j["dram_bandwidth_gbs"] = dram_bandwidth;
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
