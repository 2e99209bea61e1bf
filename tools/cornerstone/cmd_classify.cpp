// `cornerstone classify`: labels for image files, by an image classifier's own head or zero-shot
// by an image-text model (CLIP) over labels given on the command line.
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <numeric>
#include <string>
#include <vector>

#include "command.h"
#include "cornerstone/core/error.h"
#include "cornerstone/cornerstone.h"

namespace {

void add_classify(CLI::App& app) {
  using namespace cornerstone;
  auto* cmd = app.add_subcommand("classify", "Label image files: by an image classifier (vit, bit), or zero-shot by an image-text model "
                                 "(clip) choosing among --labels");
  static std::string model, prompt = "{}", label_list, label_file;
  static std::vector<std::string> images;
  static int64_t top = 3, batch = 64;
  static bool json = false;
  cmd->add_option("--model", model, "An image classifier or an image-text model folder")->required();
  cmd->add_option("--labels", label_list, "Image-text models: the candidate labels, comma-separated (\"a shirt,a shoe,a bag\")");
  cmd->add_option("--labels-file", label_file, "Image-text models: the candidate labels, one per line (labels with commas; many labels)")
      ->excludes("--labels");
  cmd->add_option("--template", prompt, "Image-text models: the caption each label becomes, {} standing for the label")->capture_default_str();
  cmd->add_option("--top", top, "Labels printed per image, most probable first")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--batch", batch, "Images per forward pass")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_flag("--json", json, "One JSON object per image: {\"image\", \"labels\": [{\"label\", \"probability\"}, ...]}");
  cmd->add_option("images", images, "Image files (PNG, JPEG, BMP, GIF, TGA, PNM)")->required();
  cmd->callback([] {
    std::vector<std::string> labels;
    for (size_t begin = 0; !label_list.empty();) {
      const size_t end = label_list.find(',', begin);
      std::string l = label_list.substr(begin, end == std::string::npos ? std::string::npos : end - begin);
      l.erase(0, l.find_first_not_of(' '));
      l.erase(l.find_last_not_of(' ') + 1);
      if (l.empty()) throw ValueError("--labels: an empty label in '" + label_list + "'");
      labels.push_back(l);
      if (end == std::string::npos) break;
      begin = end + 1;
    }
    if (!label_file.empty()) {
      std::ifstream in(label_file);
      if (!in) throw IOError("--labels-file: cannot read '" + label_file + "'");
      for (std::string l; std::getline(in, l);) {
        if (!l.empty() && l.back() == '\r') l.pop_back();
        if (!l.empty()) labels.push_back(l);
      }
      if (labels.empty()) throw ValueError("--labels-file: '" + label_file + "' has no labels");
    }
    const Model m = load(model);
    const Tensor p = m.classify_images(images, labels, prompt, batch);
    const std::vector<std::string> names = labels.empty() ? m.image_labels() : labels;
    const int64_t L = p.size(1);
    const float* x = p.data<float>();
    for (size_t i = 0; i < images.size(); ++i) {
      std::vector<int64_t> order(static_cast<size_t>(L));
      std::iota(order.begin(), order.end(), 0);
      const float* row = x + static_cast<int64_t>(i) * L;
      std::stable_sort(order.begin(), order.end(), [row](int64_t a, int64_t b) { return row[a] > row[b]; });
      order.resize(static_cast<size_t>(std::min<int64_t>(top, L)));
      if (json) {
        nlohmann::json j = {{"image", images[i]}, {"labels", nlohmann::json::array()}};
        for (int64_t k : order) j["labels"].push_back({{"label", names[static_cast<size_t>(k)]}, {"probability", row[k]}});
        std::printf("%s\n", j.dump().c_str());
      } else {
        std::string line = images[i] + ":";
        char buf[64];
        for (int64_t k : order) {
          std::snprintf(buf, sizeof buf, " %.3f", static_cast<double>(row[k]));
          line += " " + names[static_cast<size_t>(k)] + buf;
        }
        std::puts(line.c_str());
      }
    }
  });
}

}  // namespace

CORNERSTONE_COMMAND(add_classify, 54)
