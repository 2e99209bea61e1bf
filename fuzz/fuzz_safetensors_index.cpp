// A sharded checkpoint's model.safetensors.index.json, beside two valid shards (a.safetensors
// holds 'x', b.safetensors holds 'y'): shard names, missing shards, path tricks, duplicates.
#include <filesystem>

#include "cornerstone/io/safetensors.h"
#include "cornerstone/io/safetensors_checkpoint.h"
#include "fuzz_util.h"

using namespace cornerstone;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string folder = [] {
    const auto d = fuzz::scratch_dir() / "sharded";
    std::filesystem::create_directories(d);
    io::save_safetensors((d / "a.safetensors").string(), {{"x", Tensor::zeros({2, 3})}});
    io::save_safetensors((d / "b.safetensors").string(), {{"y", Tensor::zeros({4})}});
    return d.string();
  }();
  fuzz::write_scratch("sharded/model.safetensors.index.json", {reinterpret_cast<const char*>(data), size});
  fuzz::rejecting([&] {
    const auto c = io::SafeTensorsCheckpoint::open(folder);
    for (const auto& name : c.names()) {
      const Tensor t = c.get(name);
      fuzz::g_sink += fuzz::touch(t.raw_data(), t.nbytes()) + c.file_of(name).size();
    }
  });
  return 0;
}
