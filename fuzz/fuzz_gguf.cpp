// A GGUF file: header, metadata values (nested arrays, strings), tensor infos; then what the
// engine reads from an accepted file: every tensor's bytes, the decoder config, the tokenizer.
#include "cornerstone/io/gguf.h"
#include "cornerstone/interop/gguf_tokenizer.h"
#include "cornerstone/models/gpt/gpt_gguf.h"
#include "fuzz_util.h"

using namespace cornerstone;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = fuzz::write_scratch("model.gguf", {reinterpret_cast<const char*>(data), size});
  fuzz::rejecting([&] {
    const auto f = io::GGUFFile::open(path);
    for (const auto& [key, value] : f.metadata()) fuzz::g_sink += value.str().size() + key.size();
    for (const auto& t : f.tensors()) {
      fuzz::g_sink += fuzz::touch(f.tensor_data(t), t.nbytes);
      fuzz::rejecting([&] { fuzz::g_sink += static_cast<uint64_t>(f.tensor(t.name).numel()); });
    }
    fuzz::rejecting([&] {
      const models::DecoderConfig c = models::config_from_gguf(f);
      fuzz::g_sink += static_cast<uint64_t>(c.num_parameters());
    });
    fuzz::rejecting([&] { fuzz::g_sink += interop::tokenizer_json_from_gguf(f).size(); });
  });
  return 0;
}
