#include "test_util.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "cornerstone/core/error.h"
#include "cornerstone/io/atomic_file.h"
#include "cornerstone/models/load.h"
#include "cornerstone/tokenize/bpe_trainer.h"

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

std::vector<nlohmann::json> read_jsonl(const std::string& path) {
  std::vector<nlohmann::json> out;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) out.push_back(nlohmann::json::parse(line));
  return out;
}

TinyDecoder save_tiny_decoder(const std::string& dir, const std::string& corpus, uint64_t seed, float init_std) {
  tokenize::BpeTrainerOptions o;
  o.vocab_size = 300;
  o.special_tokens = {"<|endoftext|>"};
  const std::vector<std::string> docs = {corpus};
  TinyDecoder t{nullptr, tokenize::train_bpe_on_texts(docs, o)};
  models::DecoderConfig c;
  c.arch = models::DecoderArch::GPT2;
  c.vocab_size = t.tokenizer.vocab_size(), c.context = 64, c.n_layers = 2, c.d_model = 32, c.n_heads = 4, c.n_kv_heads = 4, c.d_ff = 64;
  c.init_std = init_std;
  t.model = std::make_shared<models::GPT>(c, seed);
  std::filesystem::create_directories(dir);
  models::save_gpt(*t.model, dir);
  t.tokenizer.save(dir + "/tokenizer.json");
  return t;
}

::testing::AssertionResult file_is_refused(const std::string& path, const std::string& text,
                                           const std::function<void(const std::string&)>& read, const std::string& what) {
  io::write_file_atomic(path, text);
  try {
    read(path);
  } catch (const Error& e) {
    if (std::string(e.what()).find(what) != std::string::npos) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << "the error \"" << e.what() << "\" does not say \"" << what << "\"";
  }
  return ::testing::AssertionFailure() << "no error for: " << text;
}

void write_uneven_sft(const std::string& path, int n) {
  std::string lines;
  for (int i = 0; i < n; ++i) {
    std::string response = "the answer is " + std::to_string(i * 7);
    for (int k = 0; k < (i * 5) % 9; ++k) response += " and more words follow here";
    lines += nlohmann::json{{"prompt", "question number " + std::to_string(i)}, {"response", response}}.dump() + "\n";
  }
  std::ofstream(path) << lines;
}

}  // namespace cornerstone::testing
