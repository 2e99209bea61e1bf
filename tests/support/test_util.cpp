#include "test_util.h"

#include <cmath>
#include <sstream>

namespace cornerstone::testing {

::testing::AssertionResult all_close(const std::vector<float>& actual, const std::vector<float>& expected, double rtol,
                                     double atol) {
  if (actual.size() != expected.size())
    return ::testing::AssertionFailure() << "size " << actual.size() << " vs expected " << expected.size();
  size_t worst = 0, bad = 0;
  double worst_excess = -1;
  for (size_t i = 0; i < actual.size(); ++i) {
    const double a = actual[i], e = expected[i];
    const double tol = atol + rtol * std::fabs(e);
    const double err = std::fabs(a - e);
    const bool nan_mismatch = std::isnan(a) != std::isnan(e);
    if (nan_mismatch || err > tol) {
      ++bad;
      const double excess = nan_mismatch ? 1e300 : err - tol;
      if (excess > worst_excess) worst_excess = excess, worst = i;
    }
  }
  if (!bad) return ::testing::AssertionSuccess();
  std::ostringstream os;
  os.precision(9);
  os << bad << " of " << actual.size() << " elements differ (rtol " << rtol << ", atol " << atol << "); worst at ["
     << worst << "]: " << actual[worst] << " vs expected " << expected[worst];
  return ::testing::AssertionFailure() << os.str();
}

::testing::AssertionResult all_close(const Tensor& actual, const Tensor& expected, double rtol, double atol) {
  if (actual.shape() != expected.shape())
    return ::testing::AssertionFailure() << "shape " << actual.shape().str() << " vs expected " << expected.shape().str();
  return all_close(actual.to_vector(), expected.to_vector(), rtol, atol);
}

std::vector<float> random_vector(size_t n, uint64_t seed, float lo, float hi) {
  std::vector<float> v(n);
  uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
  for (size_t i = 0; i < n; ++i) {
    x += 0x9E3779B97F4A7C15ull;
    uint64_t z = x;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    v[i] = lo + (hi - lo) * static_cast<float>(z >> 40) / static_cast<float>(1ull << 24);
  }
  return v;
}

std::vector<cpu::Isa> available_isas() {
  std::vector<cpu::Isa> out{cpu::Isa::Scalar};
  if (static_cast<int>(cpu::best_isa()) >= static_cast<int>(cpu::Isa::Avx2)) out.push_back(cpu::Isa::Avx2);
  if (cpu::best_isa() == cpu::Isa::Avx512) out.push_back(cpu::Isa::Avx512);
  return out;
}

std::string source_path(const std::string& relative) { return std::string(CORNERSTONE_SOURCE_DIR) + "/" + relative; }

}  // namespace cornerstone::testing
