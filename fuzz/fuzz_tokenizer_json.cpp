// Hugging Face tokenizer.json: every component's fields; an accepted tokenizer then encodes and
// decodes a few texts (long words, specials, broken UTF-8).
#include "cornerstone/tokenize/tokenizer.h"
#include "fuzz_util.h"

#include <vector>

using namespace cornerstone;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::rejecting([&] {
    const auto tok = tokenize::Tokenizer::from_json({reinterpret_cast<const char*>(data), size});
    for (const std::string& text : std::vector<std::string>{"Hello world, it's 2024!", "  caf\xC3\xA9 \xE4\xB8\xAD\xF0\x9F\x98\x80 \xC3 \xFF", "<|endoftext|>[CLS]<s>",
                                   std::string(300, 'a') + " " + std::string(100, '.')}) {
      const auto ids = tok.encode(text, true);
      fuzz::g_sink += tok.decode(ids).size() + tok.decode(ids, true).size();
    }
    for (int32_t id = 0; id < 64 && id < tok.vocab_size(); ++id) fuzz::g_sink += tok.id_to_token(id).size();
  });
  return 0;
}
