#include "cornerstone/data/images.h"

#include <stb_image.h>
#include <stb_image_resize.h>

#include <algorithm>
#include <bit>
#include <cstring>
#include <filesystem>
#include <map>
#include <set>

#include "cornerstone/core/checked.h"
#include "cornerstone/core/error.h"
#include "cornerstone/core/json_fields.h"
#include "cornerstone/data/jsonl.h"
#include "cornerstone/data/prepare.h"
#include "cornerstone/io/atomic_file.h"
#include "cornerstone/io/mapped_file.h"

namespace cornerstone::data {

namespace fs = std::filesystem;

namespace {

uint32_t big_endian_u32(const std::string& b, size_t at) {
  return (uint32_t{static_cast<uint8_t>(b[at])} << 24) | (uint32_t{static_cast<uint8_t>(b[at + 1])} << 16) |
         (uint32_t{static_cast<uint8_t>(b[at + 2])} << 8) | uint32_t{static_cast<uint8_t>(b[at + 3])};
}

// An IDX file of unsigned bytes with `ndims` dimensions: its dimensions and its payload's offset.
std::vector<uint64_t> idx_header(const std::string& bytes, int ndims, const std::string& path) {
  const std::string what = ndims == 3 ? "an IDX image file (magic 0x00000803)" : "an IDX label file (magic 0x00000801)";
  if (bytes.size() < 4 || bytes[0] != 0 || bytes[1] != 0 || static_cast<uint8_t>(bytes[2]) != 0x08 || bytes[3] != ndims)
    throw FormatError(path + ": not " + what);
  const size_t header = 4 + 4 * static_cast<size_t>(ndims);
  if (bytes.size() < header) throw FormatError(path + ": truncated IDX header");
  std::vector<uint64_t> dims;
  for (int d = 0; d < ndims; ++d) dims.push_back(big_endian_u32(bytes, 4 + 4 * static_cast<size_t>(d)));
  const uint64_t payload = checked_product(std::span<const uint64_t>(dims), path + ": IDX dimensions");
  if (bytes.size() - header < payload)
    throw FormatError(path + ": truncated: the header promises " + std::to_string(payload) + " bytes of data, the file holds " +
                      std::to_string(bytes.size() - header));
  return dims;
}

// One image (c, h, w) u8 brought to (C, H, W): channels converted (gray replicated, RGB to gray by
// luminance, alpha dropped) and resampled bilinearly.
std::vector<uint8_t> conform(const uint8_t* in, int64_t c, int64_t h, int64_t w, int64_t C, int64_t H, int64_t W,
                             const std::string& where) {
  std::vector<uint8_t> hwc(static_cast<size_t>(h * w * C));
  for (int64_t p = 0; p < h * w; ++p)
    for (int64_t k = 0; k < C; ++k) {
      uint8_t v;
      if (C == c) v = in[k * h * w + p];
      else if (c == 1) v = in[p];
      else if (C == 1) v = static_cast<uint8_t>((299 * in[p] + 587 * in[h * w + p] + 114 * in[2 * h * w + p] + 500) / 1000);
      else v = in[std::min(k, c - 1) * h * w + p];
      hwc[static_cast<size_t>(p * C + k)] = v;
    }
  std::vector<uint8_t> resized;
  if (h != H || w != W) {
    resized.resize(static_cast<size_t>(H * W * C));
    if (!stbir_resize_uint8(hwc.data(), static_cast<int>(w), static_cast<int>(h), 0, resized.data(), static_cast<int>(W),
                            static_cast<int>(H), 0, static_cast<int>(C)))
      throw ValueError(where + ": cannot resize " + std::to_string(w) + "x" + std::to_string(h) + " to " + std::to_string(W) + "x" +
                       std::to_string(H));
  } else {
    resized = std::move(hwc);
  }
  std::vector<uint8_t> chw(resized.size());
  for (int64_t p = 0; p < H * W; ++p)
    for (int64_t k = 0; k < C; ++k) chw[static_cast<size_t>(k * H * W + p)] = resized[static_cast<size_t>(p * C + k)];
  return chw;
}

void check_shape(const ImageShape& s, const std::string& where) {
  if (s.channels != 0 && s.channels != 1 && s.channels != 3)
    throw ValueError(where + ": images have 1 (gray) or 3 (RGB) channels, not " + std::to_string(s.channels));
  check_limit(s.height, 0, 4096, where + ": image height");
  check_limit(s.width, 0, 4096, where + ": image width");
}

// Fills a set from (file, label name) pairs: the first image fixes the shape left open.
ImageSet from_files(const std::vector<std::pair<std::string, std::string>>& items, const ImageShape& want,
                    const std::vector<std::string>& classes, const std::string& source) {
  ImageSet set;
  set.source = source;
  set.classes = classes;
  if (set.classes.empty()) {
    std::set<std::string> names;
    for (const auto& [file, label] : items) names.insert(label);
    set.classes.assign(names.begin(), names.end());
  }
  std::map<std::string, int32_t> index;
  for (size_t i = 0; i < set.classes.size(); ++i) index[set.classes[i]] = static_cast<int32_t>(i);
  ImageShape shape = want;
  for (const auto& [file, label] : items) {
    const auto it = index.find(label);
    if (it == index.end())
      throw ValueError(file + ": label '" + label + "' is not one of the " + std::to_string(set.classes.size()) + " classes of " + source);
    std::vector<uint8_t> img = load_image(file, shape);
    if (set.channels == 0) set.channels = shape.channels, set.height = shape.height, set.width = shape.width;
    set.pixels.insert(set.pixels.end(), img.begin(), img.end());
    set.labels.push_back(it->second);
    set.files.push_back(file);
  }
  if (set.labels.empty()) throw ValueError(source + ": no images");
  return set;
}

bool has_image_extension(const fs::path& p) {
  std::string e = p.extension().string();
  std::transform(e.begin(), e.end(), e.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return e == ".png" || e == ".jpg" || e == ".jpeg" || e == ".bmp" || e == ".gif" || e == ".tga" || e == ".pnm" || e == ".ppm" ||
         e == ".pgm";
}

// The IDX pair of a split in `dir` (raw or gzipped), or empty strings.
std::pair<std::string, std::string> idx_files(const std::string& dir, const std::string& split) {
  const std::string prefix = split == "train" ? "train" : "t10k";
  for (const char* ext : {"", ".gz"}) {
    const fs::path images = fs::path(dir) / (prefix + "-images-idx3-ubyte" + ext), labels = fs::path(dir) / (prefix + "-labels-idx1-ubyte" + ext);
    if (fs::exists(images) && fs::exists(labels)) return {images.string(), labels.string()};
  }
  return {};
}

}  // namespace

ImageSet read_idx(const std::string& images_path, const std::string& labels_path, const ImageShape& want,
                  const std::vector<std::string>& classes) {
  check_shape(want, images_path);
  const std::string ib = read_text(images_path), lb = read_text(labels_path);
  const std::vector<uint64_t> id = idx_header(ib, 3, images_path), ld = idx_header(lb, 1, labels_path);
  if (id[0] != ld[0])
    throw FormatError(images_path + " holds " + std::to_string(id[0]) + " images but " + labels_path + " " + std::to_string(ld[0]) +
                      " labels");
  check_count(id[1], 4096, images_path + ": image height");
  check_count(id[2], 4096, images_path + ": image width");
  const int64_t N = static_cast<int64_t>(id[0]), h = static_cast<int64_t>(id[1]), w = static_cast<int64_t>(id[2]);
  ImageSet set;
  set.source = images_path;
  set.channels = want.channels ? want.channels : 1;
  set.height = want.height ? want.height : h;
  set.width = want.width ? want.width : w;
  if (classes.empty())
    for (int c = 0; c < 10; ++c) set.classes.push_back(std::to_string(c));
  else
    set.classes = classes;
  const uint8_t* px = reinterpret_cast<const uint8_t*>(ib.data()) + 16;
  const uint8_t* lab = reinterpret_cast<const uint8_t*>(lb.data()) + 8;
  set.labels.resize(static_cast<size_t>(N));
  for (int64_t i = 0; i < N; ++i) {
    if (lab[i] >= set.classes.size())
      throw FormatError(labels_path + ": label " + std::to_string(lab[i]) + " of image " + std::to_string(i) + " is outside the " +
                        std::to_string(set.classes.size()) + " classes");
    set.labels[static_cast<size_t>(i)] = lab[i];
  }
  if (set.channels == 1 && set.height == h && set.width == w) {
    set.pixels.assign(px, px + N * h * w);
  } else {
    set.pixels.resize(static_cast<size_t>(checked_product({static_cast<uint64_t>(N), static_cast<uint64_t>(set.image_bytes())},
                                                          images_path + ": images")));
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < N; ++i) {
      const std::vector<uint8_t> img = conform(px + i * h * w, 1, h, w, set.channels, set.height, set.width, images_path);
      std::memcpy(set.pixels.data() + i * set.image_bytes(), img.data(), img.size());
    }
  }
  return set;
}

std::vector<uint8_t> load_image(const std::string& path, ImageShape& shape) {
  check_shape(shape, path);
  int w = 0, h = 0, n = 0;
  stbi_uc* data = stbi_load(path.c_str(), &w, &h, &n, 0);
  if (!data) {
    const std::string why = stbi_failure_reason() ? stbi_failure_reason() : "unknown reason";
    throw IOError(path + ": cannot read the image (" + (fs::exists(path) ? why : std::string("no such file")) + ")");
  }
  std::unique_ptr<stbi_uc, void (*)(void*)> keep(data, stbi_image_free);
  // stb gives (h, w, n) interleaved; n: 1 gray, 2 gray + alpha, 3 RGB, 4 RGBA.
  const int64_t c = n >= 3 ? 3 : 1;
  std::vector<uint8_t> planes(static_cast<size_t>(c * h * w));
  for (int64_t p = 0; p < int64_t{h} * w; ++p)
    for (int64_t k = 0; k < c; ++k) planes[static_cast<size_t>(k * h * w + p)] = data[p * n + k];
  if (shape.channels == 0) shape.channels = c;
  if (shape.height == 0) shape.height = h;
  if (shape.width == 0) shape.width = w;
  return conform(planes.data(), c, h, w, shape.channels, shape.height, shape.width, path);
}

ImageSet read_image_folder(const std::string& dir, const ImageShape& shape, const std::vector<std::string>& classes) {
  check_shape(shape, dir);
  if (!fs::is_directory(dir)) throw IOError("'" + dir + "' is not a folder of class folders");
  std::vector<std::pair<std::string, std::string>> items;
  std::vector<fs::path> folders;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_directory()) folders.push_back(e.path());
  std::sort(folders.begin(), folders.end());
  for (const fs::path& folder : folders) {
    std::vector<std::string> files;
    for (const auto& e : fs::directory_iterator(folder))
      if (e.is_regular_file() && has_image_extension(e.path())) files.push_back(e.path().string());
    std::sort(files.begin(), files.end());
    for (const std::string& f : files) items.emplace_back(f, folder.filename().string());
  }
  if (items.empty()) throw ValueError("'" + dir + "' has no images in class subfolders (" + dir + "/<class>/<image>.png)");
  return from_files(items, shape, classes, dir);
}

ImageSet read_image_jsonl(const std::string& path, const ImageShape& shape, const std::vector<std::string>& classes) {
  check_shape(shape, path);
  std::vector<std::pair<std::string, std::string>> items;
  std::vector<std::vector<std::string>> texts;
  const fs::path base = fs::path(path).parent_path();
  for_each_jsonl(path, [&](const nlohmann::json& j, const std::string& where, int64_t) {
    if (!j.contains("image") || !j["image"].is_string()) throw FormatError(where + ": missing \"image\" (a path)");
    if (j.contains("text")) {
      const nlohmann::json& t = j["text"];
      std::vector<std::string> captions;
      if (t.is_string()) captions.push_back(t.get<std::string>());
      else if (t.is_array())
        for (const auto& c : t) {
          if (!c.is_string()) throw FormatError(where + ": \"text\" must be a string or a list of strings (the image's captions)");
          captions.push_back(c.get<std::string>());
        }
      if (captions.empty())
        throw FormatError(where + ": \"text\" must be a string or a list of strings (the image's captions)");
      texts.push_back(std::move(captions));
    }
    if (!j.contains("label") && !j.contains("text")) throw FormatError(where + ": missing \"label\" (or a \"text\" caption)");
    const nlohmann::json& l = j.contains("label") ? j["label"] : nlohmann::json("");
    std::string label;
    if (l.is_string()) label = l.get<std::string>();
    else if (l.is_number_integer()) label = std::to_string(l.get<int64_t>());
    else throw FormatError(where + ": \"label\" must be a string or an integer");
    fs::path file = j["image"].get<std::string>();
    if (file.is_relative()) file = base / file;
    items.emplace_back(file.string(), label);
  });
  if (items.empty()) throw ValueError("'" + path + "' has no images");
  ImageSet set = from_files(items, shape, classes, path);
  if (texts.size() == items.size()) {
    for (const auto& c : texts) set.texts.push_back(c.front());
    set.captions = std::move(texts);
  }
  return set;
}

namespace {
std::string split_dir(const std::string& source, const std::string& split, const char* suffix) {
  for (const std::string& s : {split, split == "val" ? std::string("test") : split}) {
    const fs::path p = fs::path(source) / (s + suffix);
    if (suffix[0] ? fs::is_regular_file(p) : fs::is_directory(p)) return p.string();
  }
  return "";
}
}  // namespace

bool is_image_source(const std::string& source, const std::string& split) {
  return !idx_files(source, split).first.empty() || !split_dir(source, split, "").empty() || !split_dir(source, split, ".jsonl").empty() ||
         !split_dir(source, split, ".images").empty();
}

ImageSet open_image_split(const std::string& source, const std::string& split, const ImageShape& shape,
                          const std::vector<std::string>& classes) {
  if (const auto [images, labels] = idx_files(source, split); !images.empty()) return read_idx(images, labels, shape, classes);
  if (const std::string d = split_dir(source, split, ""); !d.empty()) return read_image_folder(d, shape, classes);
  if (const std::string f = split_dir(source, split, ".jsonl"); !f.empty()) return read_image_jsonl(f, shape, classes);
  if (const std::string f = split_dir(source, split, ".images"); !f.empty()) return read_image_shard(f, shape, classes);
  throw ValueError("'" + source + "' has no " + split + " images: expected IDX files (" + (split == "train" ? "train" : "t10k") +
                   "-images-idx3-ubyte[.gz] and -labels-idx1-ubyte[.gz]), a folder " + split + "/<class>/, " + split + ".jsonl, or " +
                   split + ".images (`cornerstone prepare --images`)");
}

ImageSet read_image_file(const std::string& path, const ImageShape& shape, const std::vector<std::string>& classes) {
  return fs::path(path).extension() == ".images" ? read_image_shard(path, shape, classes) : read_image_jsonl(path, shape, classes);
}

// ---- image shards ----------------------------------------------------------------------------------

namespace {
constexpr char kShardMagic[8] = {'C', 'S', 'I', 'M', 'A', 'G', 'E', '1'};
static_assert(std::endian::native == std::endian::little, "image shards store little-endian integers");
}  // namespace

void write_image_shard(const ImageSet& set, const std::string& path) {
  if (set.size() == 0) throw ValueError(path + ": no images to write");
  nlohmann::json header = {{"count", set.size()},     {"channels", set.channels}, {"height", set.height},
                           {"width", set.width},      {"classes", set.classes},   {"source", set.source}};
  if (!set.captions.empty()) header["captions"] = set.captions;
  if (!set.files.empty()) header["files"] = set.files;
  const std::string h = header.dump();
  const uint64_t length = h.size();
  io::AtomicFile f(path);
  f.write(kShardMagic, sizeof kShardMagic);
  f.write(&length, sizeof length);
  f.write(h);
  f.write(set.pixels.data(), set.pixels.size());
  f.write(set.labels.data(), set.labels.size() * sizeof(int32_t));
  f.commit();
}

ImageSet read_image_shard(const std::string& path, const ImageShape& want, const std::vector<std::string>& classes) {
  const io::MappedFile m = io::map_file(path, "image shard");
  if (m.size < 16 || std::memcmp(m.data, kShardMagic, sizeof kShardMagic) != 0)
    throw FormatError(path + ": not an image shard (it does not start with CSIMAGE1; `cornerstone prepare --images` writes them)");
  uint64_t length = 0;
  std::memcpy(&length, m.data + 8, sizeof length);
  check_range(16, length, m.size, path + ": header");
  nlohmann::json h;
  try {
    h = nlohmann::json::parse(m.data + 16, m.data + 16 + length);
  } catch (const nlohmann::json::exception& e) {
    throw FormatError(path + ": the header is not valid JSON (" + e.what() + ")");
  }
  json::as_object(h, path);
  ImageSet set;
  set.source = path;
  const int64_t N = json::as_int(json::field(h, "count", path), path + ": count");
  set.channels = json::as_int(json::field(h, "channels", path), path + ": channels");
  set.height = json::as_int(json::field(h, "height", path), path + ": height");
  set.width = json::as_int(json::field(h, "width", path), path + ": width");
  check_limit(N, 1, int64_t{1} << 31, path + ": count");
  if (set.channels != 1 && set.channels != 3) throw FormatError(path + ": channels must be 1 or 3, not " + std::to_string(set.channels));
  check_limit(set.height, 1, 4096, path + ": height");
  check_limit(set.width, 1, 4096, path + ": width");
  for (const auto& c : json::as_array(json::field(h, "classes", path), path + ": classes")) set.classes.push_back(json::as_string(c, path + ": classes"));
  if (set.classes.empty()) throw FormatError(path + ": no classes");
  const uint64_t n = static_cast<uint64_t>(N);
  const uint64_t pixel_bytes = checked_product({n, static_cast<uint64_t>(set.image_bytes())}, path + ": pixels");
  const uint64_t label_bytes = checked_mul(n, sizeof(int32_t), path + ": labels");
  const uint64_t pixels_at = 16 + length, labels_at = checked_add(pixels_at, pixel_bytes, path + ": pixels");
  check_range(pixels_at, pixel_bytes, m.size, path + ": pixels");
  check_range(labels_at, label_bytes, m.size, path + ": labels");
  if (labels_at + label_bytes != m.size)
    throw FormatError(path + ": " + std::to_string(m.size - labels_at - label_bytes) + " bytes after the labels (a corrupt or foreign file)");
  const auto* px = reinterpret_cast<const uint8_t*>(m.data + pixels_at);
  set.labels.resize(n);
  std::memcpy(set.labels.data(), m.data + labels_at, label_bytes);
  for (int64_t i = 0; i < N; ++i)
    if (set.labels[static_cast<size_t>(i)] < 0 || set.labels[static_cast<size_t>(i)] >= static_cast<int32_t>(set.classes.size()))
      throw FormatError(path + ": label " + std::to_string(set.labels[static_cast<size_t>(i)]) + " of image " + std::to_string(i) +
                        " is outside its " + std::to_string(set.classes.size()) + " classes");
  if (const nlohmann::json* caps = json::optional_field(h, "captions", path)) {
    const auto& all = json::as_array(*caps, path + ": captions");
    if (all.size() != n) throw FormatError(path + ": " + std::to_string(all.size()) + " caption lists for " + std::to_string(N) + " images");
    for (size_t i = 0; i < all.size(); ++i) {
      std::vector<std::string> mine;
      for (const auto& c : json::as_array(all[i], json::index_path(path + ": captions", i))) mine.push_back(json::as_string(c, path + ": captions"));
      if (mine.empty()) throw FormatError(json::index_path(path + ": captions", i) + ": an image without a caption");
      set.texts.push_back(mine.front());
      set.captions.push_back(std::move(mine));
    }
  }
  if (const nlohmann::json* files = json::optional_field(h, "files", path)) {
    const auto& all = json::as_array(*files, path + ": files");
    if (all.size() != n) throw FormatError(path + ": " + std::to_string(all.size()) + " file names for " + std::to_string(N) + " images");
    for (const auto& f : all) set.files.push_back(json::as_string(f, path + ": files"));
  }
  // Labels by name into the caller's classes (another split's, or a model's).
  if (!classes.empty() && classes != set.classes) {
    std::map<std::string, int32_t> index;
    for (size_t i = 0; i < classes.size(); ++i) index[classes[i]] = static_cast<int32_t>(i);
    for (int32_t& l : set.labels) {
      const std::string& name = set.classes[static_cast<size_t>(l)];
      const auto it = index.find(name);
      if (it == index.end()) throw ValueError(path + ": label '" + name + "' is not one of the " + std::to_string(classes.size()) + " classes expected");
      l = it->second;
    }
    set.classes = classes;
  }
  // Pixels, brought to the requested shape when it differs (as the IDX reader does).
  check_shape(want, path);
  const int64_t C = want.channels ? want.channels : set.channels, H = want.height ? want.height : set.height,
                W = want.width ? want.width : set.width;
  if (C == set.channels && H == set.height && W == set.width) {
    set.pixels.assign(px, px + pixel_bytes);
  } else {
    const int64_t c0 = set.channels, h0 = set.height, w0 = set.width;
    set.channels = C, set.height = H, set.width = W;
    set.pixels.resize(static_cast<size_t>(checked_product({n, static_cast<uint64_t>(set.image_bytes())}, path + ": images")));
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < N; ++i) {
      const std::vector<uint8_t> img = conform(px + i * c0 * h0 * w0, c0, h0, w0, C, H, W, path);
      std::memcpy(set.pixels.data() + i * set.image_bytes(), img.data(), img.size());
    }
  }
  return set;
}

Batch image_batch(const ImageSet& set, std::span<const int64_t> rows, const ImageTransform& t, Rng* rng) {
  const int64_t B = static_cast<int64_t>(rows.size()), C = set.channels, H = set.height, W = set.width;
  auto per_channel = [&](const std::vector<float>& v, const char* name) {
    if (v.size() != 1 && static_cast<int64_t>(v.size()) != C)
      throw ValueError(std::string("image normalisation: ") + name + " has " + std::to_string(v.size()) + " values for " +
                       std::to_string(C) + " channels");
    std::vector<float> out(static_cast<size_t>(C));
    for (int64_t c = 0; c < C; ++c) out[static_cast<size_t>(c)] = v.size() == 1 ? v[0] : v[static_cast<size_t>(c)];
    return out;
  };
  const std::vector<float> mean = per_channel(t.mean, "mean"), stdev = per_channel(t.std, "std");
  for (float s : stdev)
    if (!(s > 0)) throw ValueError("image normalisation: std must be positive");
  // Augmentation draws first, in row order, so the batch does not depend on the thread count.
  std::vector<int64_t> dy(static_cast<size_t>(B), 0), dx(static_cast<size_t>(B), 0);
  std::vector<uint8_t> flip(static_cast<size_t>(B), 0);
  if (rng) {
    // Row i draws from its own three counters (base + 3 i): a batch cut into shares draws what the
    // whole batch would when each share's generator starts at its first row.
    const int64_t P = t.crop_padding;
    const uint64_t base = rng->reserve(static_cast<uint64_t>(3 * B));
    for (int64_t i = 0; i < B; ++i) {
      Rng row(rng->seed(), base + 3 * static_cast<uint64_t>(i));
      if (P > 0) {
        dy[static_cast<size_t>(i)] = static_cast<int64_t>(row.below(static_cast<uint64_t>(2 * P + 1))) - P;
        dx[static_cast<size_t>(i)] = static_cast<int64_t>(row.below(static_cast<uint64_t>(2 * P + 1))) - P;
      }
      if (t.flip) flip[static_cast<size_t>(i)] = row.below(2) == 1;
    }
  }
  Tensor pixels = Tensor::empty({B, C, H, W});
  std::vector<int32_t> labels(static_cast<size_t>(B));
  float* out = pixels.data<float>();
  for (int64_t i = 0; i < B; ++i) {
    const int64_t r = rows[static_cast<size_t>(i)];
    if (r < 0 || r >= set.size()) throw ValueError("image batch: row " + std::to_string(r) + " outside the set of " + std::to_string(set.size()));
    labels[static_cast<size_t>(i)] = set.labels[static_cast<size_t>(r)];
  }
#pragma omp parallel for schedule(static) collapse(2)
  for (int64_t i = 0; i < B; ++i)
    for (int64_t c = 0; c < C; ++c) {
      const size_t s = static_cast<size_t>(i);
      const uint8_t* src = set.image(rows[s]) + c * H * W;
      float* dst = out + (i * C + c) * H * W;
      const float scale = 1.0f / (255.0f * stdev[static_cast<size_t>(c)]), shift = -mean[static_cast<size_t>(c)] / stdev[static_cast<size_t>(c)];
      for (int64_t y = 0; y < H; ++y)
        for (int64_t x = 0; x < W; ++x) {
          // The output pixel (y, x) of a crop shifted by (dy, dx), flipped before the shift.
          const int64_t sy = y + dy[s], sx0 = flip[s] ? W - 1 - x : x, sx = sx0 + dx[s];
          const float v = (sy >= 0 && sy < H && sx >= 0 && sx < W) ? static_cast<float>(src[sy * W + sx]) : 0.0f;
          dst[y * W + x] = v * scale + shift;
        }
    }
  Batch b;
  b.set(batch_keys::pixels, pixels).set(batch_keys::labels, Tensor::from_data({B}, labels));
  return b;
}

}  // namespace cornerstone::data
