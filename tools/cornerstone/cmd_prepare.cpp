// `cornerstone prepare`: tokenize a corpus into train/val token shards, or (--images) decode an
// image source's splits once into image shards.
#include <chrono>
#include <cstdio>
#include <filesystem>

#include "command.h"
#include "cornerstone/core/error.h"
#include "cornerstone/data/images.h"
#include "cornerstone/data/prepare.h"
#include "cornerstone/io/staged_folder.h"
#include "cornerstone/tokenize/tokenizer.h"

namespace {

namespace fs = std::filesystem;

// Every split of `source` as DIR/<split>.images, with the source's tokenizer.json (an image-caption
// folder's) beside them.
void prepare_images(const std::string& source, const std::string& out, int64_t size, int64_t channels) {
  using namespace cornerstone;
  const auto t0 = std::chrono::steady_clock::now();
  if (!fs::is_directory(source)) throw ValueError("--images '" + source + "' is not a folder of images (IDX files, <split>/<class>/ folders or <split>.jsonl)");
  // The shards (and tokenizer.json) go into a staging folder that replaces OUT in one rename: a
  // reader sees the old set or the new one, never a new train shard beside an old test shard.
  io::StagedFolder staged(out, io::StagedFolder::Existing::Replace,
                          [](const std::string& n) { return n == "tokenizer.json" || n.ends_with(".images"); });
  const data::ImageShape shape{channels, size, size};
  std::vector<std::string> classes;  // the train split's, kept by the others
  int written = 0;
  for (const char* split : {"train", "val", "test"}) {
    // "val" falls back to "test" in every reader: write it only when the source has its own.
    if (!data::is_image_source(source, split) || (std::string(split) == "val" && !fs::exists(fs::path(source) / "val") &&
                                                  !fs::exists(fs::path(source) / "val.jsonl")))
      continue;
    const data::ImageSet set = data::open_image_split(source, split, shape, classes);
    if (classes.empty()) classes = set.classes;
    const std::string name = std::string(split) + ".images";
    data::write_image_shard(set, (fs::path(staged.path()) / name).string());
    std::printf("%s: %lld images of %lld x %lld x %lld, %zu classes%s -> %s\n", split, static_cast<long long>(set.size()),
                static_cast<long long>(set.channels), static_cast<long long>(set.height), static_cast<long long>(set.width),
                set.classes.size(), set.captions.empty() ? "" : ", with captions", (fs::path(out) / name).c_str());
    ++written;
  }
  if (!written) throw ValueError("'" + source + "' has no train, val or test images");
  if (fs::exists(fs::path(source) / "tokenizer.json"))
    fs::copy_file(fs::path(source) / "tokenizer.json", fs::path(staged.path()) / "tokenizer.json", fs::copy_options::overwrite_existing);
  staged.commit();
  std::printf("%d image shard(s) in %s, %.1f s\n", written, out.c_str(),
              std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
}

void add_prepare(CLI::App& app) {
  auto* cmd = app.add_subcommand("prepare", "Tokenize text files into token shards for pretraining, or decode images into image shards (--images)");
  static std::string tokenizer, out, images;
  static std::vector<std::string> inputs;
  static double val_fraction = 0.05;
  static int64_t image_size = 0, channels = 0;
  cmd->add_option("--tokenizer", tokenizer, "tokenizer.json, a folder holding one, GPT-2 encoder.json + vocab.bpe, or vocab.txt");
  cmd->add_option("--input", inputs, "Text files, folders, globs or .gz files (repeatable)");
  cmd->add_option("--out", out, "Output folder (train-*.bin, val-*.bin, tokenizer.json, meta.json; with --images: <split>.images)")->required();
  cmd->add_option("--val-fraction", val_fraction, "Share of documents held out for validation")->capture_default_str();
  cmd->add_option("--images", images,
                  "Instead of text: an image source (IDX files, <split>/<class>/ folders, <split>.jsonl) whose splits are decoded, "
                  "converted and resized once into <split>.images files that `pretrain` and `evaluate` read without decoding");
  cmd->add_option("--image-size", image_size, "--images: resize to this many pixels square (default: the images' own size)");
  cmd->add_option("--channels", channels, "--images: 1 (gray) or 3 (RGB) (default: the images' own)");
  cmd->callback([] {
    using namespace cornerstone;
    if (!images.empty()) {
      if (!tokenizer.empty() || !inputs.empty()) throw ValueError("prepare: --images takes no --tokenizer or --input (it writes image shards)");
      return prepare_images(images, out, image_size, channels);
    }
    if (tokenizer.empty() || inputs.empty())
      throw ValueError("prepare: give --tokenizer and --input (token shards of text), or --images (image shards)");
    const auto tok = tokenize::Tokenizer::load(tokenizer);
    data::PrepareOptions o;
    o.val_fraction = val_fraction;
    const auto s = data::prepare(tok, inputs, out, o);
    std::printf("%lld documents (%lld for validation), %.1f MB -> %lld train + %lld val tokens (%.2f bytes/token) in %lld shards, %.1f s\n",
                static_cast<long long>(s.documents), static_cast<long long>(s.val_documents), s.bytes / 1e6,
                static_cast<long long>(s.train_tokens), static_cast<long long>(s.val_tokens),
                static_cast<double>(s.bytes) / static_cast<double>(std::max<int64_t>(1, s.train_tokens + s.val_tokens)),
                static_cast<long long>(s.shards), s.seconds);
  });
}

}  // namespace

CORNERSTONE_COMMAND(add_prepare, 20)
