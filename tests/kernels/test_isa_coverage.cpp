// Says which kernel variants this run could not test. for_each_isa runs every variant the CPU
// supports, so an AVX2-only machine passes the kernel suite without running one AVX-512 kernel:
// the log says so at the end instead of leaving it to be inferred from a green result.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <string>

#include "kernel_test.h"

namespace {

using cornerstone::cpu::Isa;

std::string names(bool tested) {
  std::string out;
  const auto ran = cornerstone::testing::available_isas();
  for (Isa isa : {Isa::Scalar, Isa::Avx2, Isa::Avx512}) {
    const bool in = std::find(ran.begin(), ran.end(), isa) != ran.end();
    if (in == tested) out += (out.empty() ? "" : ", ") + std::string(cornerstone::cpu::isa_name(isa));
  }
  return out;
}

class IsaCoverageReport : public ::testing::Environment {
 public:
  void TearDown() override {
    const std::string untested = names(false);
    if (untested.empty())
      std::printf("kernel variants tested: %s (all)\n", names(true).c_str());
    else
      std::printf("kernel variants NOT tested (this CPU lacks them): %s; tested: %s\n", untested.c_str(), names(true).c_str());
  }
};

[[maybe_unused]] ::testing::Environment* const kReport = ::testing::AddGlobalTestEnvironment(new IsaCoverageReport);

}  // namespace

TEST(IsaCoverage, EveryVariantTheCpuSupportsIsListed) {
  const auto ran = cornerstone::testing::available_isas();
  ASSERT_FALSE(ran.empty());
  EXPECT_EQ(ran.front(), Isa::Scalar);
  EXPECT_EQ(ran.back(), cornerstone::cpu::best_isa());  // the best variant the CPU has is among those run
}
