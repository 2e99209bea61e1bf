// A single safetensors file: header length, JSON header, every entry's dtype, shape and offsets.
#include "cornerstone/io/safetensors.h"
#include "fuzz_util.h"

using namespace cornerstone;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = fuzz::write_scratch("model.safetensors", {reinterpret_cast<const char*>(data), size});
  fuzz::rejecting([&] {
    const auto f = io::SafeTensorsFile::open(path);
    for (const auto& name : f.names()) {
      const auto& info = f.info(name);
      fuzz::rejecting([&] {
        const Tensor t = f.get(name);
        fuzz::g_sink += fuzz::touch(t.raw_data(), t.nbytes());
      });
      fuzz::g_sink += info.end - info.begin;
    }
  });
  return 0;
}
