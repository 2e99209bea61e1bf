// A token shard (`cornerstone prepare` output): header fields against the file size, then every
// token read back.
#include <vector>

#include "cornerstone/data/token_shards.h"
#include "fuzz_util.h"

using namespace cornerstone;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = fuzz::write_scratch("train-00000.bin", {reinterpret_cast<const char*>(data), size});
  fuzz::rejecting([&] {
    const auto s = data::TokenShard::open(path);
    std::vector<int32_t> out(static_cast<size_t>(s.size()));
    s.read(0, s.size(), out.data());
    for (int32_t t : out) fuzz::g_sink += static_cast<uint32_t>(t);
  });
  return 0;
}
