#include "emoji_set.h"

#include <algorithm>
#include <cctype>

#include <ft2build.h>
#include FT_FREETYPE_H
#include <stb/stb_image_resize.h>
#include <stb/stb_image_write.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <vector>

#include "cornerstone/core/error.h"
#include "cornerstone/io/atomic_file.h"
#include "cornerstone/tokenize/bpe_trainer.h"

namespace cornerstone::data {

namespace fs = std::filesystem;

namespace {

struct Emoji {
  uint32_t code;
  std::string name, group, subgroup;
};

// Fully-qualified single-code-point entries ("1F600 ; fully-qualified # 😀 E1.0 grinning face"),
// with an optional trailing U+FE0F (emoji presentation), under their "# group:" / "# subgroup:".
std::vector<Emoji> read_emoji_test(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw IOError("cannot open '" + path + "' (Debian's unicode-data package installs it: scripts/setup unicode-data)");
  std::vector<Emoji> out;
  std::string group, subgroup;
  int64_t n = 0;
  for (std::string line; std::getline(in, line);) {
    ++n;
    if (line.rfind("# group: ", 0) == 0) group = line.substr(9);
    if (line.rfind("# subgroup: ", 0) == 0) subgroup = line.substr(12);
    if (line.empty() || line[0] == '#') continue;
    const size_t semi = line.find(';'), hash = line.find('#');
    if (semi == std::string::npos || hash == std::string::npos || hash < semi)
      throw FormatError(path + ":" + std::to_string(n) + ": expected 'code points ; status # emoji version name'");
    if (line.find("fully-qualified", semi) == std::string::npos || line.find("fully-qualified", semi) > hash) continue;
    std::istringstream cps(line.substr(0, semi));
    std::vector<uint32_t> codes;
    for (std::string cp; cps >> cp;) codes.push_back(static_cast<uint32_t>(std::stoul(cp, nullptr, 16)));
    if (codes.empty() || codes.size() > 2 || (codes.size() == 2 && codes[1] != 0xFE0F)) continue;  // sequences need shaping
    // "# 😀 E1.0 grinning face": the name follows the version field.
    std::istringstream rest(line.substr(hash + 1));
    std::string glyph, version, word, name;
    rest >> glyph >> version;
    while (rest >> word) name += (name.empty() ? "" : " ") + word;
    if (group.empty() || name.empty()) throw FormatError(path + ":" + std::to_string(n) + ": an emoji without a group or name");
    out.push_back({codes[0], name, group, subgroup});
  }
  if (out.empty()) throw FormatError(path + ": no fully-qualified emoji");
  return out;
}

struct FreeType {
  FT_Library lib = nullptr;
  FT_Face face = nullptr;
  explicit FreeType(const std::string& font) {
    if (FT_Init_FreeType(&lib)) throw Error("FreeType did not initialise");
    if (FT_New_Face(lib, font.c_str(), 0, &face))
      throw IOError("cannot open the font '" + font + "' (Debian's fonts-noto-color-emoji installs it: scripts/setup fonts-noto-color-emoji)");
    if (face->num_fixed_sizes < 1 || FT_Select_Size(face, 0))
      throw FormatError(font + ": not a bitmap colour font (no fixed sizes)");
  }
  ~FreeType() {
    if (face) FT_Done_Face(face);
    if (lib) FT_Done_FreeType(lib);
  }
  FreeType(const FreeType&) = delete;
  FreeType& operator=(const FreeType&) = delete;

  // The emoji composited on white as size x size RGB, centred in a square; empty when the font
  // has no glyph for it.
  std::vector<uint8_t> render(uint32_t code, int64_t size) {
    const FT_UInt index = FT_Get_Char_Index(face, code);
    if (index == 0 || FT_Load_Glyph(face, index, FT_LOAD_COLOR) || FT_Render_Glyph(face->glyph, FT_RENDER_MODE_NORMAL)) return {};
    const FT_Bitmap& b = face->glyph->bitmap;
    if (b.pixel_mode != FT_PIXEL_MODE_BGRA || b.width == 0 || b.rows == 0) return {};
    const int64_t w = b.width, h = b.rows, side = std::max(w, h);
    std::vector<uint8_t> square(static_cast<size_t>(side * side * 3), 255);
    for (int64_t y = 0; y < h; ++y)
      for (int64_t x = 0; x < w; ++x) {
        // Premultiplied BGRA over white: c + (1 - a) * 255.
        const uint8_t* p = b.buffer + y * b.pitch + x * 4;
        const int a = p[3];
        uint8_t* q = square.data() + (((y + (side - h) / 2) * side) + x + (side - w) / 2) * 3;
        for (int c = 0; c < 3; ++c) q[c] = static_cast<uint8_t>(std::min(255, p[2 - c] + (255 - a)));
      }
    std::vector<uint8_t> out(static_cast<size_t>(size * size * 3));
    if (!stbir_resize_uint8(square.data(), static_cast<int>(side), static_cast<int>(side), 0, out.data(), static_cast<int>(size),
                            static_cast<int>(size), 0, 3))
      return {};
    return out;
  }
};

// A seeded hash of the code point in [0, 1): the split does not depend on the order or the limit.
double unit(uint32_t code, uint64_t seed) {
  uint64_t h = (code + 0x9e3779b97f4a7c15ull) ^ (seed * 0xbf58476d1ce4e5b9ull);
  h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ull;
  h = (h ^ (h >> 27)) * 0x94d049bb133111ebull;
  h ^= h >> 31;
  return static_cast<double>(h >> 11) / 9007199254740992.0;
}

}  // namespace

EmojiSetSummary make_emoji_set(const std::string& out, const EmojiSetOptions& o) {
  if (o.size < 8 || o.size > 512) throw ValueError("--size must be in [8, 512], got " + std::to_string(o.size));
  if (o.val_fraction < 0 || o.test_fraction < 0 || o.val_fraction + o.test_fraction >= 1)
    throw ValueError("--val-fraction and --test-fraction must be >= 0 and sum to less than 1");
  const std::vector<Emoji> emoji = read_emoji_test(o.names);
  FreeType ft(o.font);
  fs::create_directories(fs::path(out) / "images");
  EmojiSetSummary s;
  std::string train, val, test;
  std::vector<std::string> train_captions;
  std::set<std::string> groups;
  for (const Emoji& e : emoji) {
    if (o.limit > 0 && s.train + s.val + s.test >= o.limit) break;
    const std::vector<uint8_t> px = ft.render(e.code, o.size);
    if (px.empty()) {
      ++s.skipped;
      continue;
    }
    char hex[16];
    std::snprintf(hex, sizeof hex, "%x", e.code);
    const std::string rel = std::string("images/") + hex + ".png";
    const int size = static_cast<int>(o.size);
    if (!stbi_write_png((fs::path(out) / rel).c_str(), size, size, 3, px.data(), size * 3))
      throw IOError("cannot write '" + (fs::path(out) / rel).string() + "'");
    // Captions from unicode-data's annotations: the name with its group (the first, which
    // evaluation reads), the name, the group, the subgroup in words. Training draws one per image
    // per batch, as CLIP trains on COCO's five captions per image; the group's words are what
    // zero-shot group classification then looks for in unseen images.
    std::string subgroup = e.subgroup;
    std::replace(subgroup.begin(), subgroup.end(), '-', ' ');
    const std::vector<std::string> captions = {e.name + " (" + e.group + ")", e.name, e.group, subgroup};
    const std::string line =
        nlohmann::json{{"image", rel}, {"text", captions}, {"name", e.name}, {"label", e.group}, {"subgroup", e.subgroup}}.dump() + "\n";
    const double u = unit(e.code, o.seed);
    if (u < o.test_fraction) test += line, ++s.test;
    else if (u < o.test_fraction + o.val_fraction) val += line, ++s.val;
    else train += line, ++s.train, train_captions.insert(train_captions.end(), captions.begin(), captions.end());
    groups.insert(e.group);
  }
  io::write_file_atomic((fs::path(out) / "train.jsonl").string(), train);
  io::write_file_atomic((fs::path(out) / "val.jsonl").string(), val);
  io::write_file_atomic((fs::path(out) / "test.jsonl").string(), test);
  // A byte-level BPE of the training captions only (held-out names stay unseen), ending every
  // caption with <|endoftext|> (id 0) as CLIP's text tower expects.
  if (train_captions.empty()) throw ValueError("emoji: no training images (raise --limit or lower --val-fraction / --test-fraction)");
  tokenize::BpeTrainerOptions bpe;
  bpe.vocab_size = o.vocab_size;
  bpe.special_tokens = {"<|endoftext|>"};
  tokenize::train_bpe_on_texts(train_captions, bpe).save((fs::path(out) / "tokenizer.json").string());
  s.groups = static_cast<int64_t>(groups.size());
  return s;
}

}  // namespace cornerstone::data
