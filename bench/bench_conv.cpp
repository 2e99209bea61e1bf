// conv2d forward and forward + backward through the engine's op (im2col + GEMM, ops/conv.h), one
// JSON line per shape on stdout: best and median milliseconds of --reps runs after one warm-up.
//
//   bench_conv --shapes bench/conv_shapes.json [--quick] [--threads N] [--reps N]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cornerstone/autograd/grad_mode.h"
#include "cornerstone/core/parallel.h"
#include "cornerstone/core/rng.h"
#include "cornerstone/ops/conv.h"
#include "cornerstone/ops/elementwise.h"

using namespace cornerstone;
using nlohmann::json;

namespace {

template <typename F>
std::pair<double, double> time_ms(F f, int reps) {
  f();
  std::vector<double> t;
  for (int i = 0; i < reps; ++i) {
    const auto a = std::chrono::steady_clock::now();
    f();
    t.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - a).count());
  }
  std::sort(t.begin(), t.end());
  return {t.front(), t[t.size() / 2]};
}

}  // namespace

int main(int argc, char** argv) {
  std::string shapes = "bench/conv_shapes.json";
  bool quick = false;
  int threads = 0, reps = 10;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--shapes" && i + 1 < argc) shapes = argv[++i];
    else if (a == "--quick") quick = true;
    else if (a == "--threads" && i + 1 < argc) threads = std::stoi(argv[++i]);
    else if (a == "--reps" && i + 1 < argc) reps = std::stoi(argv[++i]);
    else {
      std::fprintf(stderr, "usage: bench_conv [--shapes FILE] [--quick] [--threads N] [--reps N]\n");
      return 2;
    }
  }
  set_num_threads(threads);
  std::ifstream in(shapes);
  if (!in) {
    std::fprintf(stderr, "bench_conv: cannot read %s\n", shapes.c_str());
    return 1;
  }
  const json spec = json::parse(in);
  for (const json& s : spec[quick ? "quick" : "shapes"]) {
    const int64_t B = s["B"], C = s["C"], H = s["H"], W = s["W"], O = s["O"], k = s["k"], stride = s["stride"], pad = s["pad"];
    Rng rng(1);
    Tensor x = Tensor::uniform({B, C, H, W}, rng, -1, 1).requires_grad_();
    Tensor w = Tensor::uniform({O, C, k, k}, rng, -0.1f, 0.1f).requires_grad_();
    Tensor b = Tensor::zeros({O}).requires_grad_();
    const auto fwd = time_ms([&] {
      autograd::NoGradGuard no_grad;
      ops::conv2d(x, w, b, stride, pad);
    }, reps);
    const auto both = time_ms([&] {
      Tensor y = ops::conv2d(x, w, b, stride, pad);
      ops::sum(y).backward();
      x.zero_grad(), w.zero_grad(), b.zero_grad();
    }, reps);
    const int64_t Ho = (H + 2 * pad - k) / stride + 1, Wo = (W + 2 * pad - k) / stride + 1;
    const double flops = 2.0 * static_cast<double>(B * O * Ho * Wo * C * k * k);
    std::printf("%s\n", json{{"shape", s["name"]}, {"threads", num_threads()}, {"forward_ms", fwd.first}, {"forward_median_ms", fwd.second},
                             {"train_ms", both.first}, {"train_median_ms", both.second}, {"forward_gflops", flops / fwd.first / 1e6},
                             {"train_gflops", 3 * flops / both.first / 1e6}}.dump().c_str());
  }
  return 0;
}
