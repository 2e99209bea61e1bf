// Shared helpers for the GoogleTest suites.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cornerstone/core/cpu.h"
#include "cornerstone/core/tensor.h"
#include "cornerstone/models/gpt/gpt.h"
#include "cornerstone/tokenize/tokenizer.h"

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

// Writes `text` to `path`, calls `read(path)` and checks that it throws a cornerstone::Error whose
// message contains `what` (a reader's bad-input test: the file, line and field it names).
::testing::AssertionResult file_is_refused(const std::string& path, const std::string& text,
                                           const std::function<void(const std::string&)>& read, const std::string& what);

// The objects of a JSON Lines file (blank lines skipped); a line that is not JSON throws.
std::vector<nlohmann::json> read_jsonl(const std::string& path);

// A tiny GPT-2 (2 layers, width 32, 4 heads, context 64) over a byte-level BPE tokenizer of at
// most 300 tokens trained on `corpus` (<|endoftext|> special), saved as a model folder in `dir`
// (created); the vocabulary is the tokenizer's, so every sampled id decodes.
struct TinyDecoder {
  std::shared_ptr<models::GPT> model;
  tokenize::Tokenizer tokenizer;
};
TinyDecoder save_tiny_decoder(const std::string& dir, const std::string& corpus, uint64_t seed, float init_std = 0.02f);

// `n` sft examples ({"prompt", "response"} JSONL) whose responses differ a lot in length, so that
// batches of them hold different numbers of response tokens; written to `path`.
void write_uneven_sft(const std::string& path, int n);

}  // namespace cornerstone::testing
