// An IDX image file and its label file (MNIST / Fashion-MNIST): magic numbers, dimensions against
// the bytes, counts that must agree, labels within the classes. The input is the image file
// followed by the label file; it is split at the last label magic (00 00 08 01).
#include <string_view>

#include "cornerstone/data/images.h"
#include "fuzz_util.h"

using namespace cornerstone;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view all(reinterpret_cast<const char*>(data), size);
  const size_t cut = all.rfind(std::string_view("\0\0\x08\x01", 4));
  const std::string_view images = cut == std::string_view::npos ? all : all.substr(0, cut);
  const std::string_view labels = cut == std::string_view::npos ? std::string_view() : all.substr(cut);
  const std::string ip = fuzz::write_scratch("images-idx3-ubyte", std::string(images));
  const std::string lp = fuzz::write_scratch("labels-idx1-ubyte", std::string(labels));
  fuzz::rejecting([&] {
    const data::ImageSet set = data::read_idx(ip, lp);
    fuzz::g_sink += fuzz::touch(set.pixels.data(), set.pixels.size());
  });
  return 0;
}
