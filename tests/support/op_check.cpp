#include "op_check.h"

#include <gtest/gtest.h>

#include <cmath>

#include "cornerstone/autograd/grad_mode.h"
#include "cornerstone/core/rng.h"
#include "oracle.h"
#include "test_util.h"

namespace cornerstone::testing {

namespace {

std::vector<Tensor> fresh_inputs(const OpCase& c) {
  std::vector<Tensor> in;
  for (size_t i = 0; i < c.inputs.size(); ++i) {
    Tensor t = c.inputs[i].defined() ? c.inputs[i].detach().clone() : Tensor();
    if (t.defined() && i < c.grad.size() && c.grad[i]) t.requires_grad_();
    in.push_back(t);
  }
  return in;
}

Tensor make_seed(const Shape& s, uint64_t seed) {
  Rng rng(seed);
  return Tensor::uniform(s, rng, -1.0f, 1.0f);
}

double weighted_sum(const Tensor& out, const Tensor& seed) {
  const auto o = out.to_vector(), s = seed.to_vector();
  double acc = 0;
  for (size_t i = 0; i < o.size(); ++i) acc += static_cast<double>(o[i]) * s[i];
  return acc;
}

}  // namespace

::testing::AssertionResult as_accurate_as_torch(const Tensor& ours, const Tensor& torch_f32, const Tensor& exact,
                                                double factor, double floor) {
  if (ours.shape() != exact.shape() || torch_f32.shape() != exact.shape())
    return ::testing::AssertionFailure() << "shapes differ: " << ours.shape().str() << " / " << torch_f32.shape().str()
                                         << " / " << exact.shape().str();
  const auto a = ours.to_vector(), t = torch_f32.to_vector(), e = exact.to_vector();
  double ours_err = 0, torch_err = 0;
  for (size_t i = 0; i < e.size(); ++i) {
    ours_err = std::max(ours_err, std::fabs(static_cast<double>(a[i]) - e[i]));
    torch_err = std::max(torch_err, std::fabs(static_cast<double>(t[i]) - e[i]));
  }
  if (std::isfinite(ours_err) && ours_err <= factor * torch_err + floor) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "max error vs float64 " << ours_err << " exceeds " << factor
                                       << " x PyTorch float32's " << torch_err << " (+ " << floor << ")";
}

void check_against_oracle(const OpCase& c) {
  SCOPED_TRACE("op " + c.oracle_op);
  std::vector<Tensor> in = fresh_inputs(c);
  Tensor out = c.run(in);
  const bool any_grad = std::any_of(c.grad.begin(), c.grad.end(), [](bool b) { return b; });
  Tensor seed = any_grad ? make_seed(out.shape(), c.seed) : Tensor();
  if (any_grad) out.backward(seed);

  std::vector<Tensor> plain;
  for (const Tensor& t : c.inputs) plain.push_back(t);
  // Undefined optional inputs are dropped from the oracle's argument list.
  std::vector<Tensor> sent;
  std::vector<bool> want;
  std::vector<size_t> index;
  for (size_t i = 0; i < plain.size(); ++i) {
    if (!plain[i].defined()) continue;
    sent.push_back(plain[i]);
    want.push_back(i < c.grad.size() && c.grad[i]);
    index.push_back(i);
  }
  OracleResult ref = Oracle::instance().run(c.oracle_op, sent, c.attrs, seed, want);
  ASSERT_FALSE(ref.outputs.empty());
  EXPECT_TRUE(all_close(out.detach(), ref.outputs[0], c.rtol, c.atol)) << "forward output";
  for (size_t k = 0; k < sent.size(); ++k) {
    if (!want[k]) continue;
    const size_t i = index[k];
    ASSERT_TRUE(in[i].grad().defined()) << "input " << i << " received no gradient";
    EXPECT_TRUE(all_close(in[i].grad(), ref.grads[k], c.grad_rtol, c.grad_atol)) << "gradient of input " << i;
  }
}

void check_finite_differences(const OpCase& c, int samples, float eps, double tol) {
  SCOPED_TRACE("finite differences " + c.oracle_op);
  std::vector<Tensor> in = fresh_inputs(c);
  Tensor out = c.run(in);
  const Tensor seed = make_seed(out.shape(), c.seed + 7);
  out.backward(seed);

  for (size_t i = 0; i < in.size(); ++i) {
    if (i >= c.grad.size() || !c.grad[i]) continue;
    const std::vector<float> analytic_all = in[i].grad().to_vector();
    Tensor x = c.inputs[i].detach().clone();
    const int64_t n = x.numel();
    const int64_t step = std::max<int64_t>(1, n / samples);
    double diff2 = 0, ref2 = 0;
    for (int64_t j = 0; j < n; j += step) {
      float* p = x.data<float>() + j;
      const float orig = *p;
      auto eval = [&](float v) {
        *p = v;
        std::vector<Tensor> args;
        for (size_t k = 0; k < c.inputs.size(); ++k) args.push_back(k == i ? x : c.inputs[k]);
        autograd::NoGradGuard no_grad;
        return weighted_sum(c.run(args), seed);
      };
      const double numeric = (eval(orig + eps) - eval(orig - eps)) / (2.0 * eps);
      *p = orig;
      const double analytic = analytic_all[static_cast<size_t>(j)];
      diff2 += (numeric - analytic) * (numeric - analytic);
      ref2 += analytic * analytic;
    }
    EXPECT_LE(std::sqrt(diff2), tol * std::sqrt(ref2) + 1e-4)
        << "input " << i << ": |numeric - analytic| = " << std::sqrt(diff2) << ", |analytic| = " << std::sqrt(ref2);
  }
}

Tensor random_tensor(const Shape& shape, uint64_t seed, float lo, float hi) {
  Rng rng(seed);
  return Tensor::uniform(shape, rng, lo, hi);
}

void check_op(const OpCase& c, bool finite_differences) {
  check_against_oracle(c);
  if (finite_differences) check_finite_differences(c);
}

}  // namespace cornerstone::testing
