// One harness for every differentiable op: forward and backward against the PyTorch oracle, and
// backward against central finite differences.
//
//   OpCase c;
//   c.oracle_op = "layer_norm";  c.attrs = {{"eps", 1e-5}};
//   c.inputs = {x, w, b};  c.grad = {true, true, true};
//   c.run = [](const std::vector<Tensor>& in) { return ops::layer_norm(in[0], in[1], in[2], 1e-5f); };
//   check_against_oracle(c);
//   check_finite_differences(c);
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cornerstone/core/tensor.h"

namespace cornerstone::testing {

struct OpCase {
  std::string oracle_op;
  nlohmann::json attrs = nlohmann::json::object();
  std::vector<Tensor> inputs;  // leaves; the harness clones them and sets requires_grad per `grad`
  std::vector<bool> grad;      // which inputs are differentiated (f32 only)
  std::function<Tensor(const std::vector<Tensor>&)> run;
  double rtol = 1e-5, atol = 1e-5;            // forward vs oracle
  double grad_rtol = 1e-4, grad_atol = 1e-5;  // backward vs oracle
  uint64_t seed = 1;                          // for the upstream gradient
};

// The accuracy criterion for compositions (blocks, whole models), where float32 rounding differs
// by design between two correct implementations: the largest error of `ours` against the float64
// reference is at most `factor` times PyTorch float32's own largest error (plus `floor`).
::testing::AssertionResult as_accurate_as_torch(const Tensor& ours, const Tensor& torch_f32, const Tensor& exact,
                                                double factor = 4.0, double floor = 1e-6);

// Uniform values in [lo, hi) drawn from `seed`: an op's test input.
Tensor random_tensor(const Shape& shape, uint64_t seed, float lo = -1.0f, float hi = 1.0f);

// check_against_oracle(c), then check_finite_differences(c) unless `finite_differences` is false.
void check_op(const OpCase& c, bool finite_differences = true);

// Forward output and input gradients (for a random upstream gradient) match PyTorch.
void check_against_oracle(const OpCase& c);

// Gradients match central differences of L(x) = sum(seed * f(x)) on up to `samples` elements per
// input: || numeric - analytic || <= tol * || analytic || + 1e-4.
void check_finite_differences(const OpCase& c, int samples = 24, float eps = 1e-2f, double tol = 1e-2);

}  // namespace cornerstone::testing
