// Synthetic arithmetic: every worked solution is true arithmetic and ends in the answer after the
// marker, problems are distinct and a function of the seed, and `dataset arithmetic` writes the
// three aligned forms per split through the CLI.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "cornerstone/core/error.h"
#include "cornerstone/data/arithmetic.h"
#include "cornerstone/data/jsonl.h"
#include "cli.h"

using namespace cornerstone;
using namespace cornerstone::testing;
namespace fs = std::filesystem;

namespace {

// Every "x op y (op z ...) = r" statement in a solution holds (left to right, + and - and *).
void expect_true_statements(const std::string& text) {
  static const std::regex statement(R"((\d+(?: [-+*] \d+)+) = (\d+))");
  int64_t checked = 0;
  for (std::sregex_iterator it(text.begin(), text.end(), statement), end; it != end; ++it) {
    std::istringstream in((*it)[1].str());
    int64_t value = 0, x = 0;
    in >> value;
    for (std::string op; in >> op >> x;) value = op == "+" ? value + x : op == "-" ? value - x : value * x;
    EXPECT_EQ(value, std::stoll((*it)[2].str())) << (*it)[0] << " in: " << text;
    ++checked;
  }
  EXPECT_GT(checked, 0) << text;
}

}  // namespace

TEST(Arithmetic, WorkedSolutionsAreTrueAndEndInTheAnswer) {
  data::ArithmeticOptions o;
  o.min_digits = 1, o.max_digits = 4, o.count = 300, o.seed = 5;
  for (const auto& p : data::make_arithmetic_problems(o)) {
    const std::string answer = std::to_string(p.answer());
    EXPECT_GE(p.answer(), 0);
    EXPECT_EQ(p.direct(), "Answer: " + answer);
    const std::string s = p.steps();
    EXPECT_EQ(s.substr(s.size() - p.direct().size()), p.direct()) << s;
    expect_true_statements(s);
    for (uint64_t v = 0; v < 5; ++v) EXPECT_NE(p.wrong_answer(v), p.answer());
  }
  data::ArithmeticProblem add{47, 85, data::ArithmeticOp::Add};
  EXPECT_EQ(add.steps(), "47 + 85: 7 + 5 = 12, write 2 carry 1. 4 + 8 + 1 = 13, write 3 carry 1. write 1.\nAnswer: 132");
  data::ArithmeticProblem sub{72, 38, data::ArithmeticOp::Sub};
  EXPECT_EQ(sub.steps(), "72 - 38: 2 + 10 - 8 = 4, borrow 1. 7 - 1 - 3 = 3.\nAnswer: 34");
  data::ArithmeticProblem longer{349, 25, data::ArithmeticOp::Add};
  EXPECT_EQ(longer.steps(), "349 + 25: 9 + 5 = 14, write 4 carry 1. 4 + 2 + 1 = 7, write 7. write 3.\nAnswer: 374");
  data::ArithmeticProblem borrow{1003, 5, data::ArithmeticOp::Sub};
  EXPECT_EQ(borrow.steps(), "1003 - 5: 3 + 10 - 5 = 8, borrow 1. 0 - 1 + 10 = 9, borrow 1. 0 - 1 + 10 = 9, borrow 1. 1 - 1 = 0.\nAnswer: 998");
  data::ArithmeticProblem mul{47, 85, data::ArithmeticOp::Mul};
  EXPECT_EQ(mul.steps(), "47 * 85: 47 * 5 = 235. 47 * 80 = 3760. 235 + 3760 = 3995.\nAnswer: 3995");
}

TEST(Arithmetic, ProblemsAreDistinctSizedByTheFlagsAndSeeded) {
  data::ArithmeticOptions o;
  o.ops = {data::ArithmeticOp::Add};
  o.min_digits = 2, o.max_digits = 3, o.count = 500, o.seed = 9;
  const auto a = data::make_arithmetic_problems(o), b = data::make_arithmetic_problems(o);
  std::set<std::pair<int64_t, int64_t>> seen;
  std::set<int64_t> sizes;
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_TRUE(seen.insert({a[i].a, a[i].b}).second);
    EXPECT_EQ(a[i].a, b[i].a);
    EXPECT_GE(a[i].a, 10);
    EXPECT_LT(a[i].a, 1000);
    sizes.insert(a[i].digits());
  }
  EXPECT_EQ(sizes, (std::set<int64_t>{2, 3}));
  o.seed = 10;
  EXPECT_NE(data::make_arithmetic_problems(o)[0].a * 1000 + data::make_arithmetic_problems(o)[0].b, a[0].a * 1000 + a[0].b);
  o.min_digits = 1, o.max_digits = 1, o.count = 80;  // only 100 one-digit sums exist
  EXPECT_THROW(data::make_arithmetic_problems(o), ValueError);
  o.max_digits = 10;
  EXPECT_THROW(data::make_arithmetic_problems(o), ValueError);
}

TEST(Arithmetic, DatasetCommandWritesAlignedSplitsInThreeForms) {
  const std::string out = fresh_temp_dir("arith_set");
  const auto r = run_cli("dataset arithmetic --out " + out + " --count 100 --ops add,mul --max-digits 2 --style steps "
                         "--val-fraction 0.1 --test-fraction 0.2");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("70 train, 10 val, 20 test"), std::string::npos) << r.output;
  std::set<std::string> prompts;
  for (const std::string split : {"train", "val", "test"}) {
    std::vector<nlohmann::json> sft, answers, pairs;
    data::for_each_jsonl(out + "/" + split + ".jsonl", [&](const nlohmann::json& j, const std::string&, int64_t) { sft.push_back(j); });
    data::for_each_jsonl(out + "/" + split + ".answers.jsonl", [&](const nlohmann::json& j, const std::string&, int64_t) { answers.push_back(j); });
    data::for_each_jsonl(out + "/" + split + ".pairs.jsonl", [&](const nlohmann::json& j, const std::string&, int64_t) { pairs.push_back(j); });
    ASSERT_EQ(sft.size(), answers.size());
    ASSERT_EQ(sft.size(), pairs.size());
    for (size_t i = 0; i < sft.size(); ++i) {
      const std::string prompt = sft[i]["prompt"];
      EXPECT_TRUE(prompts.insert(prompt).second) << "a problem in two splits: " << prompt;
      EXPECT_EQ(answers[i]["prompt"], prompt);
      EXPECT_EQ(pairs[i]["prompt"], prompt);
      const std::string response = sft[i]["response"], answer = answers[i]["answer"];
      EXPECT_EQ(response.substr(response.size() - answer.size() - 8), "Answer: " + answer);
      EXPECT_NE(response.find(" = "), std::string::npos) << "worked steps";
      EXPECT_EQ(pairs[i]["chosen"], response);
      EXPECT_NE(pairs[i]["rejected"], response);
      EXPECT_EQ(prompt.find('-'), std::string::npos) << "only add and mul";
    }
  }
  EXPECT_EQ(prompts.size(), 100u);
  // Bad flags: a clear error, non-zero exit.
  const auto too_many = run_cli("dataset arithmetic --out " + out + "/b --count 90 --ops add --max-digits 1");
  EXPECT_NE(too_many.exit_code, 0);
  EXPECT_NE(too_many.output.find("allow only 100"), std::string::npos) << too_many.output;
  const auto with_source = run_cli("dataset arithmetic --source /tmp --out " + out + "/c");
  EXPECT_NE(with_source.exit_code, 0);
  EXPECT_NE(run_cli("dataset spam --out " + out + "/d").exit_code, 0);  // the others still need --source
  EXPECT_NE(run_cli("dataset --help").output.find("--max-digits"), std::string::npos);
  fs::remove_all(out);
}
