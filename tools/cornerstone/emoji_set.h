// `cornerstone dataset emoji`: colour emoji as labelled images with captions, for image
// classification and (next) image-text training. Each single-code-point emoji of Unicode's
// emoji-test.txt (Debian unicode-data) that NotoColorEmoji.ttf (Debian fonts-noto-color-emoji)
// draws is rendered by FreeType (its colour bitmap, composited on white, resized) to
// OUT/images/<code point>.png; OUT/{train,val,test}.jsonl hold
//   {"image": "images/1f600.png", "name": "grinning face", "label": "Smileys & Emotion", "subgroup": "face-smiling",
//    "text": ["grinning face (Smileys & Emotion)", "grinning face", "Smileys & Emotion", "face smiling"]}
// with emoji assigned to the splits by a seeded hash (held-out emoji are unseen in training), and
// OUT/tokenizer.json, a byte-level BPE of the training captions with <|endoftext|> (id 0).
#pragma once

#include <cstdint>
#include <string>

namespace cornerstone::data {

struct EmojiSetOptions {
  std::string font = "/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf";
  std::string names = "/usr/share/unicode/emoji/emoji-test.txt";
  int64_t size = 32;        // output images are size x size RGB
  int64_t limit = 0;        // at most this many emoji (0: all), for quick tests
  uint64_t seed = 1234;
  double val_fraction = 0.1, test_fraction = 0.1;
  int64_t vocab_size = 1024;  // of the captions' tokenizer (OUT/tokenizer.json)
};

struct EmojiSetSummary {
  int64_t train = 0, val = 0, test = 0, skipped = 0;  // skipped: listed but not drawn by the font
  int64_t groups = 0;
};

EmojiSetSummary make_emoji_set(const std::string& out, const EmojiSetOptions& options);

}  // namespace cornerstone::data
