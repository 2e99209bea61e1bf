// Synthetic arithmetic problems with verifiable answers: the reasoning playground of alignment
// (docs/alignment.md). Problems are multi-digit addition, subtraction and multiplication; each
// has a direct answer and a step-by-step (chain-of-thought) solution that ends with the same
// answer marker, so one extractor scores both:
//
//   prompt     "What is 47 + 85?"
//   direct     "Answer: 132"
//   steps      "7 + 5 = 12, write 2 carry 1. 4 + 8 + 1 = 13, write 3 carry 1. write 1.\nAnswer: 132"
//   subtract   "72 - 38: 2 - 8 borrow, 12 - 8 = 4. 7 - 1 - 3 = 3.\nAnswer: 34"   (a >= b: answers are never negative)
//   multiply   "47 * 85: 47 * 5 = 235. 47 * 80 = 3760. 235 + 3760 = 3995.\nAnswer: 3995"
//
// Operand sizes: each operand has between min_digits and max_digits digits (uniform in the number
// of digits, then in the value), so short and long problems are equally common. Problems are
// distinct (a problem never appears twice, so no split shares one with another).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace cornerstone::data {

// The marker that precedes the final answer in every solution; answers are extracted after its
// last occurrence (eval/harness.h).
inline constexpr const char* kAnswerMarker = "Answer:";

enum class ArithmeticOp { Add, Sub, Mul };
std::string arithmetic_op_name(ArithmeticOp op);          // "add", "sub", "mul"
ArithmeticOp arithmetic_op_from_name(const std::string& s);  // ValueError listing the names

struct ArithmeticProblem {
  int64_t a = 0, b = 0;
  ArithmeticOp op = ArithmeticOp::Add;
  int64_t answer() const;
  int64_t digits() const;            // the digits of the longer operand
  std::string prompt() const;        // "What is 47 + 85?"
  std::string direct() const;        // "Answer: 132"
  std::string steps() const;         // the worked solution, ending "\nAnswer: 132"
  // A plausible wrong answer (one digit of the answer changed, or off by a carry), != answer(),
  // never negative; deterministic in `variant`.
  int64_t wrong_answer(uint64_t variant) const;
};

struct ArithmeticOptions {
  std::vector<ArithmeticOp> ops = {ArithmeticOp::Add, ArithmeticOp::Sub, ArithmeticOp::Mul};
  int64_t min_digits = 1, max_digits = 3;  // per operand, 1..9
  int64_t count = 1000;                    // distinct problems
  uint64_t seed = 1234;
};

// `count` distinct problems. ValueError when the options allow fewer than that many (one-digit
// addition has only 100), or the digit range is out of [1, 9].
std::vector<ArithmeticProblem> make_arithmetic_problems(const ArithmeticOptions& options);

}  // namespace cornerstone::data
