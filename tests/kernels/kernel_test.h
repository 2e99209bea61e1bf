// Helpers shared by the kernel tests: ISA loops, thread-count scopes, finite differences.
#pragma once

#include <omp.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "support/test_util.h"

namespace cornerstone::testing {

// Runs body once per kernel variant this CPU supports, with the variant named in failures.
template <class Body>
void for_each_isa(Body&& body) {
  for (cpu::Isa isa : available_isas()) {
    IsaScope scope(isa);
    SCOPED_TRACE(std::string("isa=") + std::string(cpu::isa_name(isa)));
    body(isa);
  }
}

// Sets the OpenMP thread count for a scope; restores the previous one.
class ThreadsScope {
 public:
  explicit ThreadsScope(int n) : prev_(omp_get_max_threads()) { omp_set_num_threads(n); }
  ~ThreadsScope() { omp_set_num_threads(prev_); }

 private:
  int prev_;
};

inline std::vector<float> to_float(const std::vector<double>& v) { return {v.begin(), v.end()}; }

inline bool bitwise_equal(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (std::memcmp(&a[i], &b[i], sizeof(float)) != 0) return false;
  return true;
}

// dot(a, b) in double: the scalar objective sum_i y_i r_i whose gradient wrt y is r.
inline double dot(const std::vector<float>& a, const std::vector<float>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += static_cast<double>(a[i]) * b[i];
  return s;
}

// Central differences of f at x: g_i = (f(x + h e_i) - f(x - h e_i)) / (2h), dividing by the step
// actually taken in float.
inline std::vector<double> numeric_grad(const std::function<double(const std::vector<float>&)>& f,
                                        std::vector<float> x, float h = 1e-2f) {
  std::vector<double> g(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    const float x0 = x[i];
    x[i] = x0 + h;
    const double fp = f(x), xp = x[i];
    x[i] = x0 - h;
    const double fm = f(x), xm = x[i];
    x[i] = x0;
    g[i] = (fp - fm) / (xp - xm);
  }
  return g;
}

}  // namespace cornerstone::testing
