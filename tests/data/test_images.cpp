// Image readers (data/images.h): IDX (real Fashion-MNIST and hand-made files, truncated and
// corrupt ones), PNG / JPEG through stb_image, class folders, JSONL lists, resizing, and batches
// with normalisation and augmentation.
#include <gtest/gtest.h>
#include <stb/stb_image_write.h>
#include <zlib.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "cli.h"
#include "cornerstone/core/error.h"
#include "cornerstone/data/images.h"

using namespace cornerstone;
namespace fs = std::filesystem;

namespace {

const char* kFashion = "/usr/share/datasets/fashion-mnist";

std::string be32(uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8), static_cast<char>(v)};
}

void write(const fs::path& p, const std::string& bytes) {
  std::ofstream(p, std::ios::binary) << bytes;
}

// n images of h x w whose pixel (i, y, x) is i * 10 + y * w + x, labels i % 3.
void write_idx(const fs::path& dir, const std::string& prefix, uint32_t n, uint32_t h, uint32_t w) {
  std::string images = std::string("\0\0\x08\x03", 4) + be32(n) + be32(h) + be32(w), labels = std::string("\0\0\x08\x01", 4) + be32(n);
  for (uint32_t i = 0; i < n; ++i) {
    for (uint32_t p = 0; p < h * w; ++p) images.push_back(static_cast<char>(i * 10 + p));
    labels.push_back(static_cast<char>(i % 3));
  }
  write(dir / (prefix + "-images-idx3-ubyte"), images);
  write(dir / (prefix + "-labels-idx1-ubyte"), labels);
}

// A w x h RGB PNG filled with (r, g, b).
void write_png(const fs::path& p, int w, int h, uint8_t r, uint8_t g, uint8_t b) {
  std::vector<uint8_t> px;
  for (int i = 0; i < w * h; ++i) px.insert(px.end(), {r, g, b});
  ASSERT_TRUE(stbi_write_png(p.c_str(), w, h, 3, px.data(), w * 3));
}

template <typename F>
std::string error_of(F f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace

TEST(Images, ReadsFashionMnistTestSet) {
  const auto set = data::open_image_split(kFashion, "test");
  EXPECT_EQ(set.size(), 10000);
  EXPECT_EQ(set.channels, 1);
  EXPECT_EQ(set.height, 28);
  EXPECT_EQ(set.width, 28);
  std::vector<int> counts(10);
  for (int32_t l : set.labels) ++counts[static_cast<size_t>(l)];
  for (int c : counts) EXPECT_EQ(c, 1000);  // the test set is balanced
  EXPECT_TRUE(data::is_image_source(kFashion));
}

TEST(Images, IdxPixelsLabelsAndResize) {
  const fs::path dir = cornerstone::testing::fresh_temp_dir("images_idx");
  write_idx(dir, "train", 4, 2, 3);
  const auto set = data::open_image_split(dir.string(), "train");
  ASSERT_EQ(set.size(), 4);
  EXPECT_EQ(set.image(2)[5], 25);
  EXPECT_EQ(set.labels[2], 2);
  // Brought to 3 channels of 4 x 6: gray replicated, constant images stay constant.
  write_idx(dir, "t10k", 2, 2, 2);
  auto big = data::open_image_split(dir.string(), "val", {3, 4, 6});
  EXPECT_EQ(big.channels, 3);
  EXPECT_EQ(big.height, 4);
  EXPECT_EQ(big.width, 6);
  EXPECT_EQ(big.pixels.size(), 2u * 3 * 4 * 6);
  EXPECT_EQ(big.image(1)[0], big.image(1)[4 * 6]);  // channel 0 == channel 1
}

TEST(Images, TruncatedAndCorruptIdxNameTheFile) {
  const fs::path dir = cornerstone::testing::fresh_temp_dir("images_bad_idx");
  write_idx(dir, "train", 4, 2, 3);
  const fs::path images = dir / "train-images-idx3-ubyte", labels = dir / "train-labels-idx1-ubyte";
  std::string bytes;
  {
    std::ifstream in(images, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  write(images, bytes.substr(0, bytes.size() - 5));
  std::string e = error_of([&] { data::read_idx(images.string(), labels.string()); });
  EXPECT_NE(e.find("truncated"), std::string::npos) << e;
  EXPECT_NE(e.find(images.string()), std::string::npos) << e;
  write(images, "PK\x03\x04 not idx");
  e = error_of([&] { data::read_idx(images.string(), labels.string()); });
  EXPECT_NE(e.find("not an IDX image file"), std::string::npos) << e;
  // Counts that disagree.
  write_idx(dir, "train", 4, 2, 3);
  write(labels, std::string("\0\0\x08\x01", 4) + be32(3) + "abc");
  EXPECT_THROW(data::read_idx(images.string(), labels.string()), FormatError);
  // A gzip stream cut short.
  write_idx(dir, "train", 4, 2, 3);
  gzFile gz = gzopen((dir / "x.gz").c_str(), "wb");
  gzwrite(gz, bytes.data(), static_cast<unsigned>(bytes.size()));
  gzclose(gz);
  std::string zipped;
  {
    std::ifstream in(dir / "x.gz", std::ios::binary);
    zipped.assign(std::istreambuf_iterator<char>(in), {});
  }
  write(dir / "x.gz", zipped.substr(0, zipped.size() / 2));
  EXPECT_THROW(data::read_idx((dir / "x.gz").string(), labels.string()), IOError);
}

TEST(Images, ClassFoldersAndJsonl) {
  const fs::path dir = cornerstone::testing::fresh_temp_dir("images_folders");
  fs::create_directories(dir / "train" / "red");
  fs::create_directories(dir / "train" / "blue");
  write_png(dir / "train" / "red" / "a.png", 8, 6, 250, 0, 0);
  write_png(dir / "train" / "red" / "b.png", 4, 4, 200, 10, 10);
  write_png(dir / "train" / "blue" / "c.png", 8, 6, 0, 0, 240);
  write(dir / "train" / "red" / "notes.txt", "not an image, skipped");
  const auto set = data::open_image_split(dir.string(), "train", {0, 6, 8});
  ASSERT_EQ(set.size(), 3);
  EXPECT_EQ(set.classes, (std::vector<std::string>{"blue", "red"}));
  EXPECT_EQ(set.labels, (std::vector<int32_t>{0, 1, 1}));
  EXPECT_EQ(set.channels, 3);
  EXPECT_EQ(set.image(0)[2 * 48], 240);  // blue plane of the blue image
  EXPECT_EQ(set.image(2)[0], 200);       // the 4x4 image resized to 8x6 keeps its colour

  write(dir / "val.jsonl", "{\"image\": \"train/red/a.png\", \"label\": \"red\"}\n\n{\"image\": \"train/blue/c.png\", \"label\": \"blue\"}\n");
  const auto val = data::open_image_split(dir.string(), "val", {1, 6, 8}, set.classes);
  ASSERT_EQ(val.size(), 2);
  EXPECT_EQ(val.labels, (std::vector<int32_t>{1, 0}));
  EXPECT_EQ(val.channels, 1);

  // Errors name the file or line.
  write(dir / "train" / "red" / "broken.png", "\x89PNG but not really");
  std::string e = error_of([&] { data::read_image_folder((dir / "train").string()); });
  EXPECT_NE(e.find("broken.png"), std::string::npos) << e;
  write(dir / "bad.jsonl", "{\"image\": \"missing.png\", \"label\": \"red\"}\n");
  e = error_of([&] { data::read_image_jsonl((dir / "bad.jsonl").string()); });
  EXPECT_NE(e.find("missing.png"), std::string::npos) << e;
  write(dir / "bad.jsonl", "{\"label\": \"red\"}\n");
  e = error_of([&] { data::read_image_jsonl((dir / "bad.jsonl").string()); });
  EXPECT_NE(e.find("bad.jsonl:1"), std::string::npos) << e;
  write(dir / "bad.jsonl", "{\"image\": \"train/red/a.png\", \"label\": \"green\"}\n");
  EXPECT_THROW(data::read_image_jsonl((dir / "bad.jsonl").string(), {}, set.classes), ValueError);
  e = error_of([&] { data::open_image_split(dir.string(), "test2"); });
  EXPECT_NE(e.find("no test2 images"), std::string::npos) << e;
  EXPECT_THROW(data::read_image_folder(dir.string(), {2, 0, 0}), ValueError);  // 2 channels
}

TEST(Images, BatchesNormaliseAndAugmentDeterministically) {
  data::ImageSet set;
  set.channels = 1, set.height = 2, set.width = 3, set.classes = {"a", "b"};
  set.pixels = {0, 51, 102, 153, 204, 255, 255, 255, 255, 255, 255, 255};
  set.labels = {1, 0};
  data::ImageTransform t;
  t.mean = {0.5f}, t.std = {0.5f};
  const std::vector<int64_t> rows = {1, 0};
  const data::Batch b = data::image_batch(set, rows, t);
  const std::vector<float> px = b[data::batch_keys::pixels].to_vector();
  EXPECT_EQ(b[data::batch_keys::pixels].shape(), (Shape{2, 1, 2, 3}));
  EXPECT_FLOAT_EQ(px[0], 1.0f);    // 255 -> 1 -> (1 - 0.5) / 0.5
  EXPECT_FLOAT_EQ(px[6], -1.0f);   // 0
  EXPECT_NEAR(px[7], -0.6f, 1e-6);  // 51 / 255 = 0.2
  EXPECT_EQ(b[data::batch_keys::labels].to_int_vector(), (std::vector<int32_t>{0, 1}));

  t.flip = true, t.crop_padding = 1;
  Rng r1(7), r2(7);
  const auto a1 = data::image_batch(set, rows, t, &r1)[data::batch_keys::pixels].to_vector();
  const auto a2 = data::image_batch(set, rows, t, &r2)[data::batch_keys::pixels].to_vector();
  EXPECT_EQ(a1, a2);
  // Some seed moves or flips the gradient image.
  bool changed = false;
  for (uint64_t s = 0; s < 8 && !changed; ++s) {
    Rng r(s);
    changed = data::image_batch(set, rows, t, &r)[data::batch_keys::pixels].to_vector() != px;
  }
  EXPECT_TRUE(changed);
  t.mean = {0.1f, 0.2f};
  EXPECT_THROW(data::image_batch(set, rows, t), ValueError);
}

TEST(ImageShards, RoundTripThroughPrepareAndEveryReaderPath) {
  const fs::path dir = cornerstone::testing::fresh_temp_dir("image_shards");
  fs::create_directories(dir / "src");
  write_idx(dir / "src", "train", 7, 4, 5);
  write_idx(dir / "src", "t10k", 3, 4, 5);
  const auto r = cornerstone::testing::run_cli("prepare --images " + (dir / "src").string() + " --out " + (dir / "shards").string());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(fs::exists(dir / "shards" / "train.images"));
  EXPECT_TRUE(fs::exists(dir / "shards" / "test.images"));
  EXPECT_FALSE(fs::exists(dir / "shards" / "val.images"));  // IDX has no val of its own: it reads test's
  for (const char* split : {"train", "val", "test"}) {
    SCOPED_TRACE(split);
    const auto a = data::open_image_split((dir / "src").string(), split), b = data::open_image_split((dir / "shards").string(), split);
    EXPECT_EQ(b.pixels, a.pixels);
    EXPECT_EQ(b.labels, a.labels);
    EXPECT_EQ(b.classes, a.classes);
    EXPECT_EQ(b.height, 4);
    EXPECT_EQ(b.width, 5);
  }
  EXPECT_TRUE(data::is_image_source((dir / "shards").string()));
  // Resized on reading when asked for another shape, as from the source; labels by name into other classes.
  const auto a = data::open_image_split((dir / "src").string(), "train", {3, 8, 8});
  const auto b = data::open_image_split((dir / "shards").string(), "train", {3, 8, 8});
  EXPECT_EQ(b.pixels, a.pixels);
  const auto renamed = data::open_image_split((dir / "shards").string(), "train", {}, {"2", "1", "0"});
  EXPECT_EQ(renamed.labels[0], 2);  // image 0 is class "0"

  // Captions and file names survive the trip.
  data::ImageSet captioned = data::read_image_shard((dir / "shards" / "train.images").string());
  captioned.captions.assign(static_cast<size_t>(captioned.size()), {"a cat", "a small cat"});
  captioned.files.assign(static_cast<size_t>(captioned.size()), "x.png");
  data::write_image_shard(captioned, (dir / "captioned.images").string());
  const auto back = data::read_image_shard((dir / "captioned.images").string());
  ASSERT_EQ(back.captions.size(), 7u);
  EXPECT_EQ(back.captions[3], (std::vector<std::string>{"a cat", "a small cat"}));
  EXPECT_EQ(back.texts[3], "a cat");
  EXPECT_EQ(back.files[6], "x.png");
}

TEST(ImageShards, CorruptFilesAreRefusedNamingTheField) {
  const fs::path dir = cornerstone::testing::fresh_temp_dir("image_shards_bad");
  write_idx(dir, "train", 5, 3, 3);
  const std::string good_path = (dir / "good.images").string();
  data::write_image_shard(data::open_image_split(dir.string(), "train"), good_path);
  std::ifstream in(good_path, std::ios::binary);
  const std::string good((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  uint64_t length = 0;
  std::memcpy(&length, good.data() + 8, 8);
  const std::string header = good.substr(16, length), body = good.substr(16 + length);
  auto with_header = [&](const std::string& h, const std::string& rest) {
    const uint64_t n = h.size();
    return std::string("CSIMAGE1") + std::string(reinterpret_cast<const char*>(&n), 8) + h + rest;
  };
  auto refusal = [&](const std::string& bytes) {
    write(dir / "bad.images", bytes);
    return error_of([&] { data::read_image_shard((dir / "bad.images").string()); });
  };
  EXPECT_NE(refusal("not a shard at all").find("not an image shard"), std::string::npos);
  EXPECT_NE(refusal(good.substr(0, good.size() - 3)).find("labels"), std::string::npos);           // truncated
  EXPECT_NE(refusal(good + "xx").find("bytes after the labels"), std::string::npos);               // trailing junk
  EXPECT_NE(refusal(good.substr(0, 8) + std::string("\xff\xff\xff\xff\xff\xff\xff\x7f", 8) + header).find("header"), std::string::npos);
  EXPECT_NE(refusal(with_header("{\"count\": 5", body)).find("not valid JSON"), std::string::npos);
  // Sizes that wrap around 64 bits or exceed the file are caught before anything is read.
  std::string huge = header;
  huge.replace(huge.find("\"count\":5"), 9, "\"count\":2147483647");
  EXPECT_NE(refusal(with_header(huge, body)).find("pixels"), std::string::npos);
  std::string bad_label = body;
  bad_label[bad_label.size() - 4] = 9;  // image 4's label -> 9, with 10 classes "0".."9": in range
  EXPECT_EQ(refusal(with_header(header, bad_label)), "(no error)");
  bad_label[bad_label.size() - 4] = 10;
  EXPECT_NE(refusal(with_header(header, bad_label)).find("label 10 of image 4"), std::string::npos);
  std::string no_channels = header;
  no_channels.replace(no_channels.find("\"channels\":1"), 12, "\"channels\":2");
  EXPECT_NE(refusal(with_header(no_channels, body)).find("channels must be 1 or 3"), std::string::npos);
}
