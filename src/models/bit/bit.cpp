#include "cornerstone/models/bit/bit.h"

#include <cmath>

#include "cornerstone/core/error.h"
#include "cornerstone/ops/activation.h"
#include "cornerstone/ops/conv.h"
#include "cornerstone/ops/elementwise.h"
#include "cornerstone/ops/linear.h"
#include "cornerstone/ops/norm.h"

namespace cornerstone::models {

namespace {
constexpr float kWeightStdEps = 1e-8f;  // transformers' WeightStandardizedConv2d in BiT layers
constexpr float kGroupNormEps = 1e-5f;
}  // namespace

Bit::Bit(const BitConfig& config, uint64_t seed, bool random_init) : cfg_(config) {
  cfg_.validate();
  Rng rng(seed);
  // Convolutions: He initialisation over the fan-out (transformers' _init_weights); norms: 1, 0.
  auto conv_weight = [&](const std::string& name, int64_t out, int64_t in, int64_t k) {
    const float std = std::sqrt(2.0f / static_cast<float>(out * k * k));
    register_parameter(name, random_init ? Tensor::randn({out, in, k, k}, rng, std) : Tensor::zeros({out, in, k, k}));
  };
  auto norm = [&](const std::string& name, int64_t channels) {
    register_parameter(name + ".weight", Tensor::full({channels}, 1.0f));
    register_parameter(name + ".bias", Tensor::zeros({channels}));
  };
  conv_weight("embedder.convolution.weight", cfg_.embedding_size, cfg_.image.channels, 7);
  int64_t in = cfg_.embedding_size;
  for (size_t s = 0; s < cfg_.depths.size(); ++s) {
    const int64_t out = cfg_.hidden_sizes[s], mid = BitConfig::mid_channels(out);
    for (int64_t j = 0; j < cfg_.depths[s]; ++j) {
      const std::string p = "stages." + std::to_string(s) + ".layers." + std::to_string(j) + ".";
      const bool first = j == 0;
      layers_.push_back({p, first && s > 0 ? 2 : 1, first});
      if (first) conv_weight(p + "downsample.conv.weight", out, in, 1);
      norm(p + "norm1", in);
      conv_weight(p + "conv1.weight", mid, in, 1);
      norm(p + "norm2", mid);
      conv_weight(p + "conv2.weight", mid, mid, 3);
      norm(p + "norm3", mid);
      conv_weight(p + "conv3.weight", out, mid, 1);
      in = out;
    }
  }
  norm("norm", in);
  const float head_std = random_init ? init_std() : 0.0f;
  register_parameter("classifier.weight", head_std > 0 ? Tensor::randn({cfg_.image.num_labels, in}, rng, head_std)
                                                       : Tensor::zeros({cfg_.image.num_labels, in}));
  register_parameter("classifier.bias", Tensor::zeros({cfg_.image.num_labels}));
}

Tensor Bit::conv(const Tensor& x, const std::string& weight, int64_t stride) const {
  const Tensor& w = parameter(weight);
  const int64_t k = w.size(2);
  // transformers' padding for global_padding = None: ((stride - 1) + (k - 1)) / 2.
  return ops::conv2d(x, ops::weight_standardize(w, kWeightStdEps), Tensor(), stride, ((stride - 1) + (k - 1)) / 2);
}

Tensor Bit::norm_relu(const Tensor& x, const std::string& norm) const {
  return ops::group_norm_relu(x, cfg_.num_groups, parameter(norm + ".weight"), parameter(norm + ".bias"), kGroupNormEps);
}

Tensor Bit::features(const Tensor& pixels) const {
  check_dtype(pixels, DType::F32, "bit", "pixels");
  const int64_t C = cfg_.image.channels, S = cfg_.image.image_size;
  if (pixels.ndim() != 4 || pixels.size(1) != C || pixels.size(2) != S || pixels.size(3) != S)
    throw ShapeError("bit: pixels " + pixels.shape().str() + " must be (B, " + std::to_string(C) + ", " + std::to_string(S) + ", " +
                     std::to_string(S) + ") (the model's channels and image_size)");
  Tensor x = conv(pixels, "embedder.convolution.weight", 2);
  x = ops::max_pool2d(ops::pad2d(x, 1, 1, 1, 1), 3, 2, 0);
  for (const Layer& l : layers_) {
    const Tensor pre = norm_relu(x, l.prefix + "norm1");
    const Tensor shortcut = l.downsample ? conv(pre, l.prefix + "downsample.conv.weight", l.stride) : x;
    Tensor h = conv(pre, l.prefix + "conv1.weight", 1);
    h = conv(norm_relu(h, l.prefix + "norm2"), l.prefix + "conv2.weight", l.stride);
    h = conv(norm_relu(h, l.prefix + "norm3"), l.prefix + "conv3.weight", 1);
    x = ops::add(h, shortcut);
  }
  return ops::global_avg_pool(norm_relu(x, "norm"));
}

Tensor Bit::image_logits(const Tensor& pixels, Rng*) const {
  return ops::linear(features(pixels), parameter("classifier.weight"), parameter("classifier.bias"));
}

Tensor Bit::hidden_states(const data::Batch& batch, Rng*) const {
  const Tensor f = features(batch.get(data::batch_keys::pixels, "bit"));
  return f.view({f.size(0), 1, f.size(1)});
}

// transformers' names: "bit." + ours, the stages inside "bit.encoder.", the classifier inside a
// Sequential (classifier.1.*).
namespace {
std::string hf_name(const std::string& ours) {
  if (ours.rfind("classifier.", 0) == 0) return "classifier.1." + ours.substr(11);
  if (ours.rfind("stages.", 0) == 0) return "bit.encoder." + ours;
  return "bit." + ours;
}
}  // namespace

std::vector<std::pair<std::string, Tensor>> Bit::hf_state_dict() const {
  std::vector<std::pair<std::string, Tensor>> out;
  for (const auto& [name, p] : named_parameters()) out.emplace_back(hf_name(name), p.detach().contiguous().clone());
  return out;
}

void Bit::load_hf_state_dict(const TensorSource& get, const std::string& source) {
  for (const auto& [name, p] : named_parameters()) {
    const std::string hf = hf_name(name);
    const Tensor src = get(hf);
    if (!src.defined()) throw FormatError(source + ": missing tensor '" + hf + "'");
    if (src.shape() != p.shape())
      throw FormatError(source + ": tensor '" + hf + "' has shape " + src.shape().str() + ", the config implies " + p.shape().str());
    Tensor dst = p.detach();
    dst.copy_from(src);
  }
}

}  // namespace cornerstone::models
