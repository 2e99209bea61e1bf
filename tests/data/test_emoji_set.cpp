// `cornerstone dataset emoji`: colour emoji from Debian's NotoColorEmoji.ttf rendered with their
// names and groups from unicode-data's emoji-test.txt into image JSONL splits the image readers
// and `pretrain` take.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "cli.h"
#include "cornerstone/data/images.h"
#include "cornerstone/tokenize/tokenizer.h"

using namespace cornerstone;
using namespace cornerstone::testing;
namespace fs = std::filesystem;

namespace {

std::map<std::string, std::string> split_of(const std::string& dir) {
  std::map<std::string, std::string> out;
  for (const char* split : {"train", "val", "test"}) {
    std::ifstream in(fs::path(dir) / (std::string(split) + ".jsonl"));
    for (std::string line; std::getline(in, line);) out[nlohmann::json::parse(line)["image"]] = split;
  }
  return out;
}

}  // namespace

TEST(EmojiSet, RendersNamedEmojiIntoSplitsTheImageReadersTake) {
  const std::string dir = fresh_temp_dir("emoji_set");
  auto r = run_cli("dataset emoji --out " + dir + "/a --size 16 --limit 40 --val-fraction 0.2 --test-fraction 0.2");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto a = split_of(dir + "/a");
  ASSERT_EQ(a.size(), 40u);
  std::ifstream first(dir + "/a/train.jsonl");
  std::string line;
  std::getline(first, line);
  const auto j = nlohmann::json::parse(line);
  EXPECT_EQ(j["label"], "Smileys & Emotion");
  // The caption is the name with the group (what zero-shot group classification looks for).
  ASSERT_EQ(j["text"].size(), 4u);
  EXPECT_EQ(j["text"][0], j["name"].get<std::string>() + " (Smileys & Emotion)");
  EXPECT_EQ(j["text"][2], "Smileys & Emotion");
  EXPECT_EQ(j["text"][3], "face smiling");
  // The captions' tokenizer: trained on the train split, <|endoftext|> first.
  const auto tok = tokenize::Tokenizer::load(dir + "/a/tokenizer.json");
  EXPECT_EQ(tok.eos_id(), 0);
  EXPECT_GT(tok.vocab_size(), 257);  // merges learnt beyond the bytes (at most --vocab-size)
  EXPECT_LE(tok.vocab_size(), 1024);
  // The images decode at the size asked for, in colour, and not blank.
  data::ImageShape shape;
  const auto px = data::load_image(dir + "/a/" + j["image"].get<std::string>(), shape);
  EXPECT_EQ(shape.channels, 3);
  EXPECT_EQ(shape.height, 16);
  int64_t non_white = 0;
  for (uint8_t v : px) non_white += v < 200;
  EXPECT_GT(non_white, 20);
  // Every split reads as a labelled image set.
  const auto train = data::open_image_split(dir + "/a", "train");
  EXPECT_GT(train.size(), 10);
  ASSERT_EQ(train.texts.size(), static_cast<size_t>(train.size())) << "every image has its caption";
  ASSERT_EQ(train.captions.size(), static_cast<size_t>(train.size()));
  EXPECT_EQ(train.captions[0].size(), 4u);
  EXPECT_EQ(train.texts[0], train.captions[0][0]);
  // The split is a function of the emoji, not of how many were made.
  r = run_cli("dataset emoji --out " + dir + "/b --size 16 --limit 20 --val-fraction 0.2 --test-fraction 0.2");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  for (const auto& [image, split] : split_of(dir + "/b")) EXPECT_EQ(a.at(image), split) << image;
  // A missing font is named.
  r = run_cli("dataset emoji --source " + dir + "/missing.ttf --out " + dir + "/c");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("missing.ttf"), std::string::npos) << r.output;
  r = run_cli("dataset --help");
  EXPECT_NE(r.output.find("emoji"), std::string::npos) << r.output;
  fs::remove_all(dir);
}
