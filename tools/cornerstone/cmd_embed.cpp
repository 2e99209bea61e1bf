// `cornerstone embed`: sentence embeddings, one vector per input line.
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "command.h"
#include "cornerstone/cornerstone.h"
#include "cornerstone/core/error.h"
#include "cornerstone/io/npy.h"

namespace {

void add_embed(CLI::App& app) {
  using namespace cornerstone;
  auto* cmd = app.add_subcommand("embed", "Sentence embeddings of stdin's lines: one vector per line (or a .npy matrix); --image: "
                                 "embeddings of the image files stdin names (an image-text model such as clip)");
  static std::string model, pooling, out;
  static bool normalize = false, image = false;
  static int64_t batch = 32, max_length = 0;
  cmd->add_option("--model", model, "Any model load() opens: a pretraining run, a Hugging Face folder, a fine-tuned folder (contrastive: its pooling)")->required();
  cmd->add_option("--pooling", pooling, "mean of the tokens' states, or [CLS]'s (default: the fine-tune's, else mean)")
      ->check(CLI::IsMember({"mean", "cls"}));
  cmd->add_flag("--normalize", normalize, "Scale every vector to unit L2 norm (dot product = cosine similarity)");
  cmd->add_option("--out", out, "Write a float32 (lines, dim) matrix in NumPy's .npy format instead of printing");
  cmd->add_option("--batch", batch, "Texts per forward pass")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_flag("--image", image, "Each line is an image file: its embedding in the space the model's texts share (clip; unit length)");
  cmd->add_option("--max-length", max_length, "Tokens per text, longer texts are cut (default: the model's, at most 512)");
  cmd->callback([] {
    LoadOptions lo;
    lo.max_length = max_length;
    const Model e = load(model, lo);
    std::vector<std::string> lines;
    for (std::string line; std::getline(std::cin, line);) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      lines.push_back(std::move(line));
    }
    if (image && !pooling.empty()) throw ValueError("--pooling is for text; an image's embedding is the model's image tower's");
    const adapt::Pooling p = pooling.empty() ? e.default_pooling() : adapt::pooling_from_name(pooling);
    const bool unit = image || e.can(Capability::ImageText);  // CLIP's embeddings are unit vectors
    const Tensor v = image ? e.embed_images(lines, batch) : e.embed(lines, p, normalize, batch);
    if (!out.empty()) {
      io::save_npy(out, v);
      const std::string how = image ? std::string("image") : unit ? "caption" : adapt::pooling_name(p) + " pooling";
      std::fprintf(stderr, "%lld x %lld embeddings (%s%s) in %s\n", static_cast<long long>(v.size(0)), static_cast<long long>(v.size(1)),
                   how.c_str(), normalize || unit ? ", normalized" : "", out.c_str());
      return;
    }
    const int64_t C = v.size(1);
    const float* x = v.data<float>();
    std::string text;
    char buf[32];
    for (int64_t i = 0; i < v.size(0); ++i) {
      text.clear();
      for (int64_t c = 0; c < C; ++c) {
        std::snprintf(buf, sizeof buf, c ? " %.7g" : "%.7g", static_cast<double>(x[i * C + c]));
        text += buf;
      }
      std::puts(text.c_str());
    }
  });
}

}  // namespace

CORNERSTONE_COMMAND(add_embed, 53)
