#include "cornerstone/data/arithmetic.h"

#include <cmath>
#include <set>
#include <tuple>

#include "cornerstone/core/error.h"
#include "cornerstone/core/rng.h"

namespace cornerstone::data {

namespace {

const char* symbol(ArithmeticOp op) { return op == ArithmeticOp::Add ? "+" : op == ArithmeticOp::Sub ? "-" : "*"; }

// Decimal digits, least significant first (0 has one digit).
std::vector<int64_t> digits_of(int64_t x) {
  std::vector<int64_t> d;
  do {
    d.push_back(x % 10);
    x /= 10;
  } while (x > 0);
  return d;
}

int64_t pow10(int64_t n) {
  int64_t p = 1;
  for (int64_t i = 0; i < n; ++i) p *= 10;
  return p;
}

std::string add_steps(int64_t a, int64_t b) {
  const auto da = digits_of(a), db = digits_of(b);
  std::string s;
  int64_t carry = 0;
  for (size_t i = 0; i < std::max(da.size(), db.size()); ++i) {
    std::string terms;
    int64_t sum = carry;
    for (const auto* d : {&da, &db})
      if (i < d->size()) terms += (terms.empty() ? "" : " + ") + std::to_string((*d)[i]), sum += (*d)[i];
    if (carry) terms += " + 1";
    if (terms.find('+') == std::string::npos) {  // one digit, nothing to add to it
      s += "write " + terms + ". ";
      continue;
    }
    s += terms + " = " + std::to_string(sum) + ", write " + std::to_string(sum % 10);
    carry = sum / 10;
    s += carry ? " carry 1. " : ". ";
  }
  if (carry) s += "write 1. ";
  return s;
}

std::string sub_steps(int64_t a, int64_t b) {  // a >= b
  const auto da = digits_of(a), db = digits_of(b);
  std::string s;
  int64_t borrow = 0;
  for (size_t i = 0; i < da.size(); ++i) {
    const int64_t y = i < db.size() ? db[i] : -1;  // -1: b has no digit here
    std::string terms = std::to_string(da[i]) + (borrow ? " - 1" : "");
    const int64_t x = da[i] - borrow;
    const bool take = x < std::max<int64_t>(y, 0);  // borrow from the next digit (also to pay a borrow with a 0)
    if (!take && y < 0 && !borrow) {
      s += "write " + std::to_string(da[i]) + ". ";
      continue;
    }
    if (take) terms += " + 10";
    if (y >= 0) terms += " - " + std::to_string(y);
    const int64_t r = x + (take ? 10 : 0) - std::max<int64_t>(y, 0);
    s += terms + " = " + std::to_string(r) + (take ? ", borrow 1. " : ". ");
    borrow = take ? 1 : 0;
  }
  return s;
}

std::string mul_steps(int64_t a, int64_t b) {
  const auto db = digits_of(b);
  std::string s, sum_terms;
  for (size_t i = 0; i < db.size(); ++i) {
    const int64_t factor = db[i] * pow10(static_cast<int64_t>(i));
    s += std::to_string(a) + " * " + std::to_string(factor) + " = " + std::to_string(a * factor) + ". ";
    sum_terms += (i ? " + " : "") + std::to_string(a * factor);
  }
  if (db.size() > 1) s += sum_terms + " = " + std::to_string(a * b) + ". ";
  return s;
}

}  // namespace

std::string arithmetic_op_name(ArithmeticOp op) { return op == ArithmeticOp::Add ? "add" : op == ArithmeticOp::Sub ? "sub" : "mul"; }

ArithmeticOp arithmetic_op_from_name(const std::string& s) {
  if (s == "add") return ArithmeticOp::Add;
  if (s == "sub") return ArithmeticOp::Sub;
  if (s == "mul") return ArithmeticOp::Mul;
  throw ValueError("unknown arithmetic operation '" + s + "' (expected add, sub or mul)");
}

int64_t ArithmeticProblem::answer() const { return op == ArithmeticOp::Add ? a + b : op == ArithmeticOp::Sub ? a - b : a * b; }

int64_t ArithmeticProblem::digits() const {
  return static_cast<int64_t>(std::max(digits_of(a).size(), digits_of(b).size()));
}

std::string ArithmeticProblem::prompt() const {
  return "What is " + std::to_string(a) + " " + symbol(op) + " " + std::to_string(b) + "?";
}

std::string ArithmeticProblem::direct() const { return std::string(kAnswerMarker) + " " + std::to_string(answer()); }

std::string ArithmeticProblem::steps() const {
  std::string s = std::to_string(a) + " " + symbol(op) + " " + std::to_string(b) + ": ";
  s += op == ArithmeticOp::Add ? add_steps(a, b) : op == ArithmeticOp::Sub ? sub_steps(a, b) : mul_steps(a, b);
  s.pop_back();  // the last step's trailing space
  return s + "\n" + direct();
}

int64_t ArithmeticProblem::wrong_answer(uint64_t variant) const {
  auto d = digits_of(answer());
  const size_t pos = static_cast<size_t>(variant % d.size());
  const int64_t delta = 1 + static_cast<int64_t>((variant / d.size()) % 9);
  d[pos] = (d[pos] + delta) % 10;
  int64_t x = 0;
  for (size_t i = d.size(); i-- > 0;) x = x * 10 + d[i];
  return x;  // one digit differs by delta in 1..9: never the answer, never negative
}

std::vector<ArithmeticProblem> make_arithmetic_problems(const ArithmeticOptions& o) {
  if (o.ops.empty()) throw ValueError("arithmetic: no operations chosen");
  if (o.min_digits < 1 || o.max_digits > 9 || o.min_digits > o.max_digits)
    throw ValueError("arithmetic: digits must satisfy 1 <= min <= max <= 9, got " + std::to_string(o.min_digits) + ".." +
                     std::to_string(o.max_digits));
  if (o.count <= 0) throw ValueError("arithmetic: the number of problems must be positive");
  // How many distinct problems exist: V operand values; a - b and b - a are one problem (a >= b).
  const double V = static_cast<double>(pow10(o.max_digits) - (o.min_digits == 1 ? 0 : pow10(o.min_digits - 1)));
  double capacity = 0;
  for (ArithmeticOp op : std::set<ArithmeticOp>(o.ops.begin(), o.ops.end())) capacity += op == ArithmeticOp::Sub ? V * (V + 1) / 2 : V * V;
  if (static_cast<double>(o.count) > capacity / 2)
    throw ValueError("arithmetic: " + std::to_string(o.count) + " distinct problems asked for, but these operations and digit sizes allow only " +
                     std::to_string(static_cast<int64_t>(capacity)) + " (ask for at most half of them, or allow more digits)");
  Rng rng(o.seed);
  auto operand = [&](int64_t n) {
    const int64_t lo = n == 1 ? 0 : pow10(n - 1), hi = pow10(n);
    return lo + static_cast<int64_t>(rng.below(static_cast<uint64_t>(hi - lo)));
  };
  auto digit_count = [&] { return o.min_digits + static_cast<int64_t>(rng.below(static_cast<uint64_t>(o.max_digits - o.min_digits + 1))); };
  std::set<std::tuple<int, int64_t, int64_t>> seen;
  std::vector<ArithmeticProblem> out;
  while (static_cast<int64_t>(out.size()) < o.count) {
    ArithmeticProblem p;
    p.op = o.ops[rng.below(o.ops.size())];
    p.a = operand(digit_count());
    p.b = operand(digit_count());
    if (p.op == ArithmeticOp::Sub && p.a < p.b) std::swap(p.a, p.b);
    if (seen.insert({static_cast<int>(p.op), p.a, p.b}).second) out.push_back(p);
  }
  return out;
}

}  // namespace cornerstone::data
