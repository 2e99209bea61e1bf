// A .npy float32 matrix (embedding exports): magic, version, header dict, shape against the bytes.
#include "cornerstone/io/npy.h"
#include "fuzz_util.h"

using namespace cornerstone;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = fuzz::write_scratch("m.npy", {reinterpret_cast<const char*>(data), size});
  fuzz::rejecting([&] {
    const Tensor t = io::load_npy(path);
    fuzz::g_sink += fuzz::touch(t.raw_data(), t.nbytes());
  });
  return 0;
}
