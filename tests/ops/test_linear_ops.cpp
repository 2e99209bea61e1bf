// Matrix products and elementwise ops: forward and backward against PyTorch and finite differences.
#include <gtest/gtest.h>

#include "cornerstone/core/error.h"
#include "cornerstone/core/parallel.h"
#include "cornerstone/core/rng.h"
#include "cornerstone/ops/activation.h"
#include "cornerstone/ops/elementwise.h"
#include "cornerstone/ops/linear.h"
#include "cornerstone/ops/precision.h"
#include "op_check.h"
#include "test_util.h"

using namespace cornerstone;
using namespace cornerstone::testing;

namespace {
Tensor rand(const Shape& s, uint64_t seed) {
  Rng rng(seed);
  return Tensor::uniform(s, rng, -1.0f, 1.0f);
}
}  // namespace

TEST(OpsLinear, LinearWithBias) {
  OpCase c;
  c.oracle_op = "linear";
  c.inputs = {rand({2, 5, 24}, 1), rand({20, 24}, 2), rand({20}, 3)};
  c.grad = {true, true, true};
  c.run = [](const std::vector<Tensor>& in) { return ops::linear(in[0], in[1], in[2]); };
  check_against_oracle(c);
  check_finite_differences(c);
}

TEST(OpsLinear, LinearWithoutBiasOnTransformerShape) {
  OpCase c;
  c.oracle_op = "linear";
  c.inputs = {rand({128, 96}, 4), rand({288, 96}, 5)};
  c.grad = {true, true};
  c.run = [](const std::vector<Tensor>& in) { return ops::linear(in[0], in[1]); };
  check_against_oracle(c);
}

TEST(OpsLinear, Matmul) {
  OpCase c;
  c.oracle_op = "matmul";
  c.inputs = {rand({3, 7, 9}, 6), rand({9, 11}, 7)};
  c.grad = {true, true};
  c.run = [](const std::vector<Tensor>& in) { return ops::matmul(in[0], in[1]); };
  check_against_oracle(c);
  check_finite_differences(c);
}

TEST(OpsLinear, ShapeMismatchNamesOpAndShapes) {
  try {
    ops::linear(Tensor::zeros({4, 3}), Tensor::zeros({5, 2}));
    FAIL();
  } catch (const ShapeError& e) {
    EXPECT_STREQ(e.what(), "linear: input features differ: x (4, 3) vs weight (5, 2) (out, in)");
  }
  EXPECT_THROW(ops::matmul(Tensor::zeros({4, 3}), Tensor::zeros({4, 3})), ShapeError);
  EXPECT_THROW(ops::linear(Tensor::zeros({4, 3}, DType::I32), Tensor::zeros({5, 3})), DTypeError);
}

TEST(OpsElementwise, AddSubMulScaleSumMean) {
  const Tensor a = rand({4, 33}, 8), b = rand({4, 33}, 9);
  struct Case {
    const char* op;
    std::function<Tensor(const std::vector<Tensor>&)> run;
    int arity;
    nlohmann::json attrs;
  };
  const std::vector<Case> cases = {
      {"add", [](const std::vector<Tensor>& in) { return ops::add(in[0], in[1]); }, 2, {}},
      {"sub", [](const std::vector<Tensor>& in) { return ops::sub(in[0], in[1]); }, 2, {}},
      {"mul", [](const std::vector<Tensor>& in) { return ops::mul(in[0], in[1]); }, 2, {}},
      {"scale", [](const std::vector<Tensor>& in) { return ops::scale(in[0], -1.5f); }, 1, {{"s", -1.5}}},
      {"sum", [](const std::vector<Tensor>& in) { return ops::sum(in[0]); }, 1, {}},
      {"mean", [](const std::vector<Tensor>& in) { return ops::mean(in[0]); }, 1, {}},
  };
  for (const auto& k : cases) {
    OpCase c;
    c.oracle_op = k.op;
    c.attrs = k.attrs.is_null() ? nlohmann::json::object() : k.attrs;
    c.inputs = k.arity == 2 ? std::vector<Tensor>{a, b} : std::vector<Tensor>{a};
    c.grad = std::vector<bool>(static_cast<size_t>(k.arity), true);
    c.run = k.run;
    check_against_oracle(c);
    check_finite_differences(c);
  }
  EXPECT_THROW(ops::add(a, rand({4, 32}, 1)), ShapeError);
}

TEST(OpsElementwise, ScaleByExpIsClipsTemperatureWithItsClamp) {
  // Below the clamp both inputs get gradients; above it the scale is exp(max_log) and the log scale
  // gets none (PyTorch's clamp gives the same).
  for (const float t : {0.7f, 1.3f}) {
    OpCase c;
    c.oracle_op = "scale_by_exp";
    c.attrs = {{"max_log", 1.0}};
    c.inputs = {rand({4, 33}, 12), Tensor::full({1}, t)};
    c.grad = {true, true};
    c.run = [](const std::vector<Tensor>& in) { return ops::scale_by_exp(in[0], in[1], 1.0f); };
    check_against_oracle(c);
    check_finite_differences(c);
  }
  EXPECT_THROW(ops::scale_by_exp(rand({2, 2}, 1), Tensor::zeros({2}), 1.0f), ShapeError);
}

TEST(OpsLinear, Bf16MixedPrecisionRoundsOperandsAndAccumulatesInFp32) {
  // Forward: exactly F.linear on bf16-rounded x and W in fp32. The backward rounds the incoming
  // gradient too, so compare it with a looser tolerance (PyTorch keeps the gradient fp32 there).
  ops::PrecisionGuard bf16(ops::Precision::BF16);
  OpCase c;
  c.oracle_op = "linear_bf16";
  c.inputs = {rand({64, 96}, 31), rand({80, 96}, 32), rand({80}, 33)};
  c.grad = {true, true, true};
  c.run = [](const std::vector<Tensor>& in) { return ops::linear(in[0], in[1], in[2]); };
  c.rtol = 1e-5, c.atol = 1e-5;
  c.grad_rtol = 2e-2, c.grad_atol = 2e-2;
  check_against_oracle(c);
  // And it really is bf16: the fp32 product differs.
  const Tensor x = rand({8, 96}, 34), w = rand({16, 96}, 35);
  const Tensor mixed = ops::linear(x, w);
  ops::PrecisionGuard f32(ops::Precision::F32);
  const Tensor full = ops::linear(x, w);
  EXPECT_FALSE(all_close(mixed, full, 1e-6, 1e-6));
  EXPECT_TRUE(all_close(mixed, full, 2e-2, 2e-2));
}

TEST(OpsLinear, LinearGeluMatchesPyTorchBothKinds) {
  // Rows not a multiple of the bias-gradient block (64) and columns not a multiple of a vector.
  for (const auto& [kind, name] : {std::pair{ops::GeluKind::Tanh, "linear_gelu_tanh"}, std::pair{ops::GeluKind::Erf, "linear_gelu_erf"}}) {
    OpCase c;
    c.oracle_op = name;
    c.inputs = {rand({3, 50, 40}, 41), rand({70, 40}, 42), rand({70}, 43)};
    c.grad = {true, true, true};
    // Init-captures: clang 16 with -fopenmp cannot capture a structured binding directly.
    c.run = [k = kind](const std::vector<Tensor>& in) { return ops::linear_gelu(in[0], in[1], in[2], k); };
    check_against_oracle(c);
    check_finite_differences(c);
    OpCase nobias = c;  // and without a bias
    nobias.inputs = {rand({5, 24}, 44), rand({33, 24}, 45)};
    nobias.grad = {true, true};
    nobias.run = [k = kind](const std::vector<Tensor>& in) { return ops::linear_gelu(in[0], in[1], Tensor(), k); };
    check_against_oracle(nobias);
  }
}

namespace {
// Forward and input / weight / bias gradients of f on (x, w, b) for the upstream gradient g.
std::vector<Tensor> forward_and_grads(const std::function<Tensor(const Tensor&, const Tensor&, const Tensor&)>& f,
                                      const Tensor& x0, const Tensor& w0, const Tensor& b0, const Tensor& g) {
  Tensor x = x0.clone(), w = w0.clone(), b = b0.clone();
  x.requires_grad_(true), w.requires_grad_(true), b.requires_grad_(true);
  const Tensor y = f(x, w, b);
  y.backward(g);
  return {y.detach(), x.grad(), w.grad(), b.grad()};
}
}  // namespace

TEST(OpsLinear, LinearGeluEqualsTheUnfusedOpsUnderBf16AndAnyThreadCount) {
  const Tensor x = rand({300, 48}, 51), w = rand({200, 48}, 52), b = rand({200}, 53), g = rand({300, 200}, 54);
  const auto fused = [](const Tensor& x, const Tensor& w, const Tensor& b) { return ops::linear_gelu(x, w, b, ops::GeluKind::Tanh); };
  const auto unfused = [](const Tensor& x, const Tensor& w, const Tensor& b) { return ops::gelu(ops::linear(x, w, b), ops::GeluKind::Tanh); };
  ops::PrecisionGuard bf16(ops::Precision::BF16);
  const std::vector<Tensor> a = forward_and_grads(fused, x, w, b, g), r = forward_and_grads(unfused, x, w, b, g);
  // Forward and the GEMM gradients see the same bf16 operands: equal to fp32 rounding. The bias
  // gradient sums the same fp32 values in another order.
  for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(all_close(a[i], r[i], 1e-5, 1e-5)) << "output / gradient " << i;
  const int threads = num_threads();
  for (int t : {1, 2, 3}) {
    set_num_threads(t);
    const std::vector<Tensor> at = forward_and_grads(fused, x, w, b, g), rt = forward_and_grads(unfused, x, w, b, g);
    EXPECT_EQ(at[3].to_vector(), a[3].to_vector()) << "fused bias gradient differs at " << t << " threads";
    EXPECT_EQ(rt[3].to_vector(), r[3].to_vector()) << "linear's bias gradient (sum_rows) differs at " << t << " threads";
  }
  set_num_threads(threads);
}
