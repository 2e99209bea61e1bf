// BERT's vocab.txt (one token per line); an accepted vocabulary then encodes a few texts.
#include "cornerstone/tokenize/tokenizer.h"
#include "fuzz_util.h"

#include <vector>

using namespace cornerstone;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = fuzz::write_scratch("vocab.txt", {reinterpret_cast<const char*>(data), size});
  fuzz::rejecting([&] {
    const auto tok = tokenize::Tokenizer::load(path);
    for (const std::string& text : std::vector<std::string>{"Hello, World! unaffable", "caf\xC3\xA9 \xE4\xB8\xAD \xFF", std::string(500, 'a')})
      fuzz::g_sink += tok.decode(tok.encode(text, true)).size();
  });
  return 0;
}
