// Hostile token shard headers: a token count whose byte size wraps around 64 bits.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "cornerstone/core/error.h"
#include "cornerstone/data/token_shards.h"

using namespace cornerstone;
namespace fs = std::filesystem;

// 2^63 tokens x 2 bytes = 2^64 = 0 mod 2^64: the 64-byte header alone "matched" and the shard
// claimed 2^63 tokens over no data.
TEST(TokenShardRegressions, TokenCountWhoseByteSizeWrapsIsRefused) {
  unsigned char h[64] = {};
  std::memcpy(h, "CSTOKENS", 8);
  const uint32_t version = 1, token_bytes = 2;
  const uint64_t tokens = 1ull << 63, documents = 1, vocab = 50257;
  std::memcpy(h + 8, &version, 4);
  std::memcpy(h + 12, &token_bytes, 4);
  std::memcpy(h + 16, &tokens, 8);
  std::memcpy(h + 24, &documents, 8);
  std::memcpy(h + 32, &vocab, 8);
  const fs::path p = fs::temp_directory_path() / ("cs_shard_wrap_" + std::to_string(::getpid()) + ".bin");
  std::ofstream(p, std::ios::binary).write(reinterpret_cast<const char*>(h), 64);
  try {
    data::TokenShard::open(p.string());
    ADD_FAILURE() << "a shard claiming 2^63 tokens in a 64-byte file opened";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("9223372036854775808 tokens"), std::string::npos) << e.what();
  }
  fs::remove(p);
}

// Found by fuzz/fuzz_token_shards.cpp (UBSan): an empty shard read into an empty vector passed
// data() == nullptr to memcpy, which is undefined even for 0 bytes.
TEST(TokenShardRegressions, EmptyReadIntoNoBufferIsFine) {
  const fs::path p = fs::temp_directory_path() / ("cs_shard_empty_" + std::to_string(::getpid()) + ".bin");
  {
    data::TokenShardWriter w(p.string(), 100000);  // 4-byte tokens: the memcpy path
    w.finish();
  }
  const auto s = data::TokenShard::open(p.string());
  ASSERT_EQ(s.size(), 0u);
  std::vector<int32_t> out;
  s.read(0, 0, out.data());
  EXPECT_THROW(s.read(0, 1, out.data()), ValueError);
  fs::remove(p);
}
