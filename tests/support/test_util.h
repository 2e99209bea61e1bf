// Shared helpers for the GoogleTest suites.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "cornerstone/core/cpu.h"
#include "cornerstone/core/tensor.h"

namespace cornerstone::testing {

// Element-wise |a - b| <= atol + rtol * |b|; reports the worst element on failure.
::testing::AssertionResult all_close(const std::vector<float>& actual, const std::vector<float>& expected,
                                     double rtol = 1e-5, double atol = 1e-6);
::testing::AssertionResult all_close(const Tensor& actual, const Tensor& expected, double rtol = 1e-5,
                                     double atol = 1e-6);

// Deterministic values in [lo, hi) (splitmix64), for kernel tests that do not need a Tensor.
std::vector<float> random_vector(size_t n, uint64_t seed, float lo = -1.0f, float hi = 1.0f);

// The kernel variants this CPU can run (scalar always; avx2, avx512 when supported).
std::vector<cpu::Isa> available_isas();

// Runs the enclosing scope with the kernel variant capped at `isa`; restores the previous cap.
class IsaScope {
 public:
  explicit IsaScope(cpu::Isa isa) : prev_(cpu::isa()) { cpu::set_isa(isa); }
  ~IsaScope() { cpu::set_isa(prev_); }

 private:
  cpu::Isa prev_;
};

// Absolute path of a file in the source tree (tests run from the repository root).
std::string source_path(const std::string& relative);

}  // namespace cornerstone::testing
