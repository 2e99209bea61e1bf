// encode() from many threads at once gives the same ids as from one thread (the word caches are
// per thread; the loaded tokenizer is shared read-only).
#include <gtest/gtest.h>

#include <thread>

#include "cornerstone/tokenize/tokenizer.h"
#include "reference.h"

namespace {

using cornerstone::tokenize::Tokenizer;

TEST(TokenizerThreads, ConcurrentEncodeMatchesSerial) {
  for (const std::string& path : {cornerstone::testing::fetch("gpt2-tokenizer"),
                                 cornerstone::testing::fetch("llama2-tokenizer") + "/models"}) {
    const Tokenizer tok = Tokenizer::load(path);
    const auto& texts = cornerstone::testing::parity_texts();
    std::vector<std::vector<int32_t>> serial;
    for (const auto& t : texts) serial.push_back(tok.encode(t.bytes));
    constexpr int kThreads = 4;
    std::vector<std::vector<std::vector<int32_t>>> results(kThreads);
    std::vector<std::thread> pool;
    for (int k = 0; k < kThreads; ++k) {
      pool.emplace_back([&, k] {
        // Different orders, twice over, so that threads hit and miss their caches differently.
        for (int round = 0; round < 2; ++round)
          for (size_t i = 0; i < texts.size(); ++i) {
            const size_t j = (i * (k + 1)) % texts.size();
            auto ids = tok.encode(texts[j].bytes);
            if (round == 1 && results[k].size() < texts.size()) results[k].resize(texts.size());
            if (round == 1) results[k][j] = std::move(ids);
          }
      });
    }
    for (auto& th : pool) th.join();
    for (int k = 0; k < kThreads; ++k)
      for (size_t i = 0; i < texts.size(); ++i)
        if (!results[k][i].empty() || serial[i].empty()) {
          EXPECT_EQ(results[k][i], serial[i]) << path << " thread " << k << " text " << texts[i].name;
        }
  }
}

}  // namespace
