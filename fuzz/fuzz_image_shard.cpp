// An image shard (`cornerstone prepare --images`, data/images.h): the magic, the header length
// against the file, the header JSON's fields, the pixel and label sizes against the file, labels
// within the classes, caption and file lists of the image count.
#include <string>

#include "cornerstone/data/images.h"
#include "fuzz_util.h"

using namespace cornerstone;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = fuzz::write_scratch("shard.images", std::string(reinterpret_cast<const char*>(data), size));
  fuzz::rejecting([&] {
    const data::ImageSet set = data::read_image_shard(path);
    fuzz::g_sink += fuzz::touch(set.pixels.data(), set.pixels.size());
  });
  return 0;
}
