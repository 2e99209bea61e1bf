#include "cornerstone/models/image_classifier.h"

#include <set>

#include "cornerstone/core/error.h"
#include "cornerstone/core/checked.h"

namespace cornerstone::models {

void ImageSpec::validate() const {
  if (channels != 1 && channels != 3) throw ValueError("model config: channels must be 1 (gray) or 3 (RGB), got " + std::to_string(channels));
  check_limit(image_size, 1, 4096, "model config: image_size");
  check_limit(num_labels, 1, 1 << 20, "model config: num_labels");
  if (!labels.empty() && static_cast<int64_t>(labels.size()) != num_labels)
    throw ValueError("model config: " + std::to_string(labels.size()) + " labels for num_labels " + std::to_string(num_labels));
  for (const auto* v : {&mean, &std})
    if (v->size() != 1 && static_cast<int64_t>(v->size()) != channels)
      throw ValueError("model config: image_mean and image_std need 1 or " + std::to_string(channels) + " values");
  for (float s : std)
    if (!(s > 0)) throw ValueError("model config: image_std must be positive");
}

void ImageSpec::set_label_names(const std::vector<std::string>& names) {
  if (static_cast<int64_t>(names.size()) != num_labels)
    throw ValueError(std::to_string(names.size()) + " label names for a model with num_labels " + std::to_string(num_labels));
  if (std::set<std::string>(names.begin(), names.end()).size() != names.size()) throw ValueError("label names must be distinct");
  labels = names;
}

void ImageSpec::add_to(nlohmann::json& j) const {
  j["channels"] = channels;
  j["image_size"] = image_size;
  if (labels.empty()) j["num_labels"] = num_labels;
  else j["labels"] = labels;
  j["image_mean"] = mean;
  j["image_std"] = std;
}

void ImageSpec::read_from(JsonFields& f) {
  f.integer("channels", channels).integer("image_size", image_size).integer("num_labels", num_labels);
  auto floats = [&f](const char* key, std::vector<float>& dst) {
    f.custom(key, [&f, key, &dst](const nlohmann::json& v) {
      if (!v.is_array() || v.empty()) f.fail(key, "expected a list of numbers", v);
      dst.clear();
      for (const auto& x : v) {
        if (!x.is_number()) f.fail(key, "expected a list of numbers", v);
        dst.push_back(x.get<float>());
      }
    });
  };
  floats("image_mean", mean);
  floats("image_std", std);
  f.custom("labels", [this, &f](const nlohmann::json& v) {
    if (!v.is_array() || v.empty()) f.fail("labels", "expected a list of class names", v);
    labels.clear();
    for (const auto& x : v) {
      if (!x.is_string()) f.fail("labels", "expected a list of class names", v);
      labels.push_back(x.get<std::string>());
    }
    num_labels = static_cast<int64_t>(labels.size());
  });
}

void ImageSpec::add_to_hf(nlohmann::json& j) const {
  j["num_channels"] = channels;
  j["image_size"] = image_size;
  nlohmann::json id2label = nlohmann::json::object(), label2id = nlohmann::json::object();
  for (int64_t i = 0; i < num_labels; ++i) id2label[std::to_string(i)] = label(i), label2id[label(i)] = i;
  j["id2label"] = id2label;
  j["label2id"] = label2id;
  j["image_mean"] = mean;
  j["image_std"] = std;
}

ImageSpec ImageSpec::from_hf(const nlohmann::json& j, const std::string& source) {
  ImageSpec s;
  s.channels = j.contains("num_channels") ? required_integer(j, "num_channels", source) : 3;
  s.image_size = required_integer(j, "image_size", source);
  if (j.contains("id2label")) {
    const nlohmann::json& m = j["id2label"];
    if (!m.is_object() || m.empty()) throw FormatError(source + ": id2label must be an object of id -> name");
    s.num_labels = static_cast<int64_t>(m.size());
    bool named = false;
    for (int64_t i = 0; i < s.num_labels; ++i) {
      const std::string key = std::to_string(i);
      if (!m.contains(key) || !m[key].is_string())
        throw FormatError(source + ": id2label must map every id 0.." + std::to_string(s.num_labels - 1) + " to a name (missing " + key + ")");
      s.labels.push_back(m[key].get<std::string>());
      named |= s.labels.back() != "LABEL_" + key;
    }
    if (!named) s.labels.clear();
  } else if (j.contains("num_labels")) {
    s.num_labels = required_integer(j, "num_labels", source);
  }
  s.read_hf_normalisation(j, source);
  return s;
}

void ImageSpec::read_hf_normalisation(const nlohmann::json& j, const std::string& source) {
  for (auto [key, dst] : {std::pair{"image_mean", &mean}, std::pair{"image_std", &std}}) {
    if (!j.contains(key)) continue;
    if (!j[key].is_array()) throw FormatError(source + ": " + key + " must be a list of numbers");
    dst->clear();
    for (const auto& x : j[key]) {
      if (!x.is_number()) throw FormatError(source + ": " + key + " must be a list of numbers");
      dst->push_back(x.get<float>());
    }
  }
}

data::ImageTransform ImageSpec::transform() const {
  data::ImageTransform t;
  t.mean = mean, t.std = std;
  return t;
}

}  // namespace cornerstone::models
