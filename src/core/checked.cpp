#include "cornerstone/core/checked.h"

#include "cornerstone/core/error.h"

namespace cornerstone {

namespace {
std::string prefix(const std::string& where) { return where.empty() ? std::string() : where + ": "; }
}  // namespace

uint64_t checked_mul(uint64_t a, uint64_t b, const std::string& where) {
  uint64_t r;
  if (mul_overflows(a, b, &r))
    throw FormatError(prefix(where) + std::to_string(a) + " x " + std::to_string(b) +
                      " overflows 64 bits (a corrupt or hostile size)");
  return r;
}

uint64_t checked_add(uint64_t a, uint64_t b, const std::string& where) {
  uint64_t r;
  if (add_overflows(a, b, &r))
    throw FormatError(prefix(where) + std::to_string(a) + " + " + std::to_string(b) +
                      " overflows 64 bits (a corrupt or hostile size)");
  return r;
}

uint64_t checked_product(std::span<const uint64_t> dims, const std::string& where) {
  uint64_t n = 1;
  for (uint64_t d : dims) {
    if (mul_overflows(n, d, &n)) {
      std::string s;
      for (uint64_t x : dims) s += (s.empty() ? "" : " x ") + std::to_string(x);
      throw FormatError(prefix(where) + "the element count " + s + " overflows 64 bits (a corrupt or hostile shape)");
    }
  }
  return n;
}

uint64_t checked_product(std::initializer_list<uint64_t> dims, const std::string& where) {
  return checked_product(std::span<const uint64_t>(dims.begin(), dims.size()), where);
}

void check_range(uint64_t offset, uint64_t length, uint64_t size, const std::string& where) {
  if (!range_within(offset, length, size)) {
    uint64_t end;
    const std::string end_str = add_overflows(offset, length, &end) ? "beyond 2^64" : std::to_string(end);
    throw FormatError(prefix(where) + "bytes [" + std::to_string(offset) + ", " + end_str + ") run past the end of the " +
                      std::to_string(size) + " bytes there are (truncated or corrupt)");
  }
}

uint64_t check_count(uint64_t v, uint64_t hi, const std::string& where) {
  if (v > hi) throw FormatError(prefix(where) + std::to_string(v) + " exceeds the limit " + std::to_string(hi));
  return v;
}

int64_t check_limit(int64_t v, int64_t lo, int64_t hi, const std::string& key) {
  if (v < lo || v > hi)
    throw ValueError(key + " = " + std::to_string(v) + " is outside the supported range [" + std::to_string(lo) + ", " +
                     std::to_string(hi) + "] (a corrupt config, or a model far beyond what this engine runs)");
  return v;
}

}  // namespace cornerstone
