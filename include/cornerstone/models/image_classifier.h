// What an image classifier family (vit, bit) shares: the images it was built for and its labels.
//
//   ImageSpec   channels, image_size (square), num_labels and their names, the per-channel mean and
//               std its pixels are normalised by; in Cornerstone configs as
//               {"channels": 1, "image_size": 28, "labels": ["T-shirt", ...] or "num_labels": 10,
//                "image_mean": [0.5], "image_std": [0.5]}
//               and in config.json as transformers writes it (num_channels, image_size, id2label,
//               label2id) plus image_mean / image_std (extra keys transformers keeps as attributes).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cornerstone/core/json_fields.h"
#include "cornerstone/data/images.h"

namespace cornerstone::models {

struct ImageSpec {
  int64_t channels = 1;
  int64_t image_size = 28;
  int64_t num_labels = 10;
  std::vector<std::string> labels;  // names by id; empty: "LABEL_<i>" (transformers' default)
  std::vector<float> mean = {0.5f}, std = {0.5f};

  std::string label(int64_t i) const { return labels.empty() ? "LABEL_" + std::to_string(i) : labels[static_cast<size_t>(i)]; }
  // Throws ValueError naming the key.
  void validate() const;
  // Sets `labels` (ValueError unless there are num_labels distinct names).
  void set_label_names(const std::vector<std::string>& names);
  // Adds / reads the keys above in a Cornerstone config ("labels" sets num_labels too).
  void add_to(nlohmann::json& j) const;
  void read_from(JsonFields& f);
  // config.json keys, and reading them back (FormatError naming `source` and the key).
  void add_to_hf(nlohmann::json& j) const;
  static ImageSpec from_hf(const nlohmann::json& j, const std::string& source);
  // image_mean / image_std of a config.json object, when present (FormatError naming the key).
  void read_hf_normalisation(const nlohmann::json& j, const std::string& source);

  data::ImageShape shape() const { return {channels, image_size, image_size}; }
  // How evaluation pixels are made (no augmentation).
  data::ImageTransform transform() const;
};

}  // namespace cornerstone::models
