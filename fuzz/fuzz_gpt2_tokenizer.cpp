// GPT-2's encoder.json + vocab.bpe. The input is both files separated by the first NUL byte
// (encoder.json before it, vocab.bpe after it).
#include <cstring>

#include "cornerstone/tokenize/tokenizer.h"
#include "fuzz_util.h"

#include <vector>

using namespace cornerstone;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view all(reinterpret_cast<const char*>(data), size);
  const size_t nul = all.find('\0');
  fuzz::write_scratch("gpt2/encoder.json", "");  // creates the folder
  fuzz::write_scratch("gpt2/encoder.json", all.substr(0, nul));
  fuzz::write_scratch("gpt2/vocab.bpe", nul == std::string_view::npos ? std::string_view() : all.substr(nul + 1));
  fuzz::rejecting([&] {
    const auto tok = tokenize::Tokenizer::load((fuzz::scratch_dir() / "gpt2").string());
    for (const std::string& text : std::vector<std::string>{"Hello world, it's 2024!", "  caf\xC3\xA9 \xF0\x9F\x98\x80 \xFF", std::string(500, 'x')})
      fuzz::g_sink += tok.decode(tok.encode(text)).size();
  });
  return 0;
}
