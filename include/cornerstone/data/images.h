// Labelled images in memory, the readers that fill them, and the batches models read.
//
// An ImageSet holds N images of one size as uint8 planes (N, C, H, W), a label per image and the
// class names. Readers:
//
//   read_idx(images, labels)        IDX files (MNIST / Fashion-MNIST), raw or .gz
//   read_image_folder(dir)          dir/<class>/<image>: one subfolder per class, sorted names
//   read_image_jsonl(file)          {"image": path (relative to the file), "label": name or number}
//   open_image_split(source, split) any of the three, by what `source` holds (below)
//
// PNG, JPEG, BMP, GIF, TGA, PNM decode with stb_image. Every image is brought to the set's size
// (bilinear resampling with stb_image_resize) and channel count (gray <-> RGB, alpha dropped).
//
// image_batch() turns rows of a set into a data::Batch: pixels (B, C, H, W) f32, scaled to [0, 1]
// then normalised per channel ((x - mean) / std), and labels (B) i32; with a generator it also
// augments: a random crop of the image zero-padded by `crop_padding` on each side, and a random
// horizontal flip.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "cornerstone/core/rng.h"
#include "cornerstone/data/batch.h"

namespace cornerstone::data {

struct ImageSet {
  int64_t channels = 0, height = 0, width = 0;
  std::vector<uint8_t> pixels;       // (N, C, H, W)
  std::vector<int32_t> labels;       // (N), in [0, classes.size())
  std::vector<std::string> classes;  // class names by label
  std::vector<std::string> texts;    // a caption per image (JSONL "text", its first when a list), or none
  std::vector<std::vector<std::string>> captions;  // every caption of each image (with texts: at least its first)
  std::vector<std::string> files;    // the file of each image (folders, JSONL), or none (IDX)
  std::string source;                // where it was read from (messages)

  int64_t size() const { return static_cast<int64_t>(labels.size()); }
  int64_t image_bytes() const { return channels * height * width; }
  const uint8_t* image(int64_t i) const { return pixels.data() + i * image_bytes(); }
};

// The shape every image of a set is brought to; 0 keeps what the data has (the first image's).
struct ImageShape {
  int64_t channels = 0, height = 0, width = 0;
};

// IDX image (magic 0x803, (N, H, W) u8) and label (magic 0x801, (N) u8) files. Throws FormatError
// naming the file when a magic number is wrong, the file is shorter than its header says
// (truncated), or the two files disagree on N. Classes are "0".."9" unless `classes` are given.
ImageSet read_idx(const std::string& images_path, const std::string& labels_path, const ImageShape& shape = {},
                  const std::vector<std::string>& classes = {});

// One image file as (C, H, W) u8 in `shape` (0 fields: the file's own). Throws IOError naming the
// file and stb_image's reason when it cannot be decoded.
std::vector<uint8_t> load_image(const std::string& path, ImageShape& shape);

// dir/<class>/<file>: classes are the sorted subfolder names (or `classes`, which must name every
// subfolder, to keep the labels of another split). Files that are not images are skipped; a file
// with an image extension that does not decode is an error naming it.
ImageSet read_image_folder(const std::string& dir, const ImageShape& shape = {}, const std::vector<std::string>& classes = {});

// {"image": path, "label": name or integer, "text": caption or [captions]} per line; classes are
// the sorted label names (or `classes`). A line may lack "label" when it has a "text" (image-caption
// pairs); `texts` and `captions` are filled when every line has one (several captions of one image,
// as COCO has: training draws one at a time, evaluation reads the first). Throws FormatError naming the line of a bad record.
ImageSet read_image_jsonl(const std::string& path, const ImageShape& shape = {}, const std::vector<std::string>& classes = {});

// A split ("train", "val" or "test") of an image data source:
//   a folder with IDX files   train-images-idx3-ubyte[.gz] + train-labels-idx1-ubyte[.gz] for
//                             "train", t10k-* for "val" and "test" (the MNIST names)
//   a folder of class folders <source>/<split>/<class>/* ("val" falls back to "test")
//   a folder of JSONL files   <source>/<split>.jsonl ("val" falls back to "test")
//   a folder of image shards  <source>/<split>.images (below; "val" falls back to "test")
// Throws ValueError naming the source and what was looked for when the split is absent.
ImageSet open_image_split(const std::string& source, const std::string& split, const ImageShape& shape = {},
                          const std::vector<std::string>& classes = {});
// Image shards: a split of any source above, decoded, converted and resized once, in one file
// that reads back without decoding (`cornerstone prepare --images SRC --out DIR` writes
// DIR/<split>.images; open_image_split reads them like the other kinds). The file:
//   8 bytes        "CSIMAGE1"
//   8 bytes        header length L (u64, little-endian)
//   L bytes        header JSON: {"count": N, "channels": C, "height": H, "width": W, "classes": [...],
//                  "source": "...", "captions": [[...] per image] (optional), "files": [...] (optional)}
//   N C H W bytes  pixels (u8, image after image, each (C, H, W))
//   4 N bytes      labels (i32, little-endian), each < the number of classes
// Written atomically (a killed writer leaves the previous file). The reader checks every size
// against the file (FormatError naming the field) and brings the pixels to `shape` if it differs.
void write_image_shard(const ImageSet& set, const std::string& path);
ImageSet read_image_shard(const std::string& path, const ImageShape& shape = {}, const std::vector<std::string>& classes = {});

// One file of images: an image shard (.images) or an image JSONL list.
ImageSet read_image_file(const std::string& path, const ImageShape& shape = {}, const std::vector<std::string>& classes = {});

// Whether `source` holds an image split of any of the kinds above (a token-shard folder does not).
bool is_image_source(const std::string& source, const std::string& split = "train");

// How pixels are normalised and augmented.
struct ImageTransform {
  std::vector<float> mean = {0.5f}, std = {0.5f};  // per channel, or one value for all
  int64_t crop_padding = 0;                        // random crop after zero padding (training)
  bool flip = false;                               // random horizontal flip (training)
};

// Rows `rows` of `set` as {pixels (B, C, H, W) f32, labels (B) i32}; `rng` non-null: augmented
// by `transform`'s crop and flip, row i drawing from the generator's next counters 3 i .. 3 i + 2
// (3 B counters are consumed). Images are filled in parallel.
Batch image_batch(const ImageSet& set, std::span<const int64_t> rows, const ImageTransform& transform, Rng* rng = nullptr);

}  // namespace cornerstone::data
