#include "cornerstone/models/vit/vit.h"

#include "cornerstone/core/error.h"
#include "cornerstone/ops/conv.h"
#include "cornerstone/ops/dropout.h"
#include "cornerstone/ops/embedding.h"

namespace cornerstone::models {

ViT::ViT(const ViTConfig& config, uint64_t seed, bool random_init) : cfg_(config) {
  cfg_.validate();
  Rng rng(seed);
  nn::BlockConfig bc = cfg_.block();
  const float std = random_init ? cfg_.init_std : 0.0f;
  if (!random_init) bc.init_std = bc.proj_init_std = 0.0f;
  const int64_t D = cfg_.d_model, C = cfg_.image.channels, p = cfg_.patch_size;
  auto normal = [&](const Shape& s) { return std > 0 ? Tensor::randn(s, rng, std) : Tensor::zeros(s); };
  patch_weight_ = register_parameter("embeddings.patch.weight", normal({D, C, p, p}));
  patch_bias_ = register_parameter("embeddings.patch.bias", Tensor::zeros({D}));
  cls_token_ = register_parameter("embeddings.cls_token", normal({D}));
  position_ = register_parameter("embeddings.position", normal({cfg_.num_patches() + 1, D}));
  for (int64_t i = 0; i < cfg_.n_layers; ++i)
    blocks_.push_back(register_module("blocks." + std::to_string(i), std::make_shared<nn::TransformerBlock>(bc, rng)));
  final_norm_ = register_module("final_norm", std::make_shared<nn::Norm>(nn::NormKind::LayerNorm, D, cfg_.norm_eps, true));
  classifier_ = register_module("classifier", std::make_shared<nn::Linear>(D, cfg_.image.num_labels, true, rng, std));
}

Tensor ViT::hidden(const Tensor& pixels, Rng* dropout_rng) const {
  check_dtype(pixels, DType::F32, "vit", "pixels");
  const int64_t C = cfg_.image.channels, S = cfg_.image.image_size;
  if (pixels.ndim() != 4 || pixels.size(1) != C || pixels.size(2) != S || pixels.size(3) != S)
    throw ShapeError("vit: pixels " + pixels.shape().str() + " must be (B, " + std::to_string(C) + ", " + std::to_string(S) + ", " +
                     std::to_string(S) + ") (the model's channels and image_size)");
  Tensor x = ops::patch_embedding(pixels, patch_weight_, patch_bias_, cfg_.patch_size);  // (B, N, D)
  x = ops::add_positions(ops::prepend_token(x, cls_token_), position_);                    // (B, N + 1, D)
  if (training() && cfg_.dropout > 0) {
    if (!dropout_rng) throw ValueError("vit: dropout is on but no random generator was given");
    x = ops::dropout(x, cfg_.dropout, *dropout_rng);
  }
  x = nn::forward_blocks(blocks_, x, nullptr, dropout_rng, Tensor(), checkpoint_);
  return final_norm_->forward(x);
}

Tensor ViT::image_logits(const Tensor& pixels, Rng* dropout_rng) const {
  return classifier_->forward(hidden(pixels, dropout_rng).select(1, 0).contiguous());
}

// ---- Hugging Face layout (ViTForImageClassification) ----------------------------------------------
//
//   vit.embeddings.cls_token (1, 1, D)               <- embeddings.cls_token (D)
//   vit.embeddings.position_embeddings (1, N + 1, D)  <- embeddings.position (N + 1, D)
//   vit.embeddings.patch_embeddings.projection.*      <- embeddings.patch.*
//   vit.encoder.layer.<i>.layernorm_before.*          <- blocks.<i>.norm1
//   vit.encoder.layer.<i>.attention.attention.{query,key,value}.*  <- blocks.<i>.attn.qkv (rows)
//   vit.encoder.layer.<i>.attention.output.dense.*    <- blocks.<i>.attn.proj
//   vit.encoder.layer.<i>.layernorm_after.*           <- blocks.<i>.norm2
//   vit.encoder.layer.<i>.intermediate.dense.*        <- blocks.<i>.mlp.fc
//   vit.encoder.layer.<i>.output.dense.*              <- blocks.<i>.mlp.proj
//   vit.layernorm.*                                   <- final_norm
//   classifier.*                                      <- classifier

namespace {

struct Layout {
  std::string hf, ours;
  int64_t row_begin = -1, row_end = -1;
  Shape hf_shape = {};  // when it differs from ours (a leading 1)
};

std::vector<Layout> layouts(const ViTConfig& c) {
  std::vector<Layout> out;
  const int64_t D = c.d_model;
  auto both = [&](const std::string& hf, const std::string& ours, int64_t b = -1, int64_t e = -1) {
    out.push_back({hf + ".weight", ours + ".weight", b, e});
    out.push_back({hf + ".bias", ours + ".bias", b, e});
  };
  out.push_back({"vit.embeddings.cls_token", "embeddings.cls_token", -1, -1, {1, 1, D}});
  out.push_back({"vit.embeddings.position_embeddings", "embeddings.position", -1, -1, {1, c.num_patches() + 1, D}});
  both("vit.embeddings.patch_embeddings.projection", "embeddings.patch");
  for (int64_t i = 0; i < c.n_layers; ++i) {
    const std::string h = "vit.encoder.layer." + std::to_string(i) + ".", b = "blocks." + std::to_string(i) + ".";
    both(h + "layernorm_before", b + "norm1");
    both(h + "attention.attention.query", b + "attn.qkv", 0, D);
    both(h + "attention.attention.key", b + "attn.qkv", D, 2 * D);
    both(h + "attention.attention.value", b + "attn.qkv", 2 * D, 3 * D);
    both(h + "attention.output.dense", b + "attn.proj");
    both(h + "layernorm_after", b + "norm2");
    both(h + "intermediate.dense", b + "mlp.fc");
    both(h + "output.dense", b + "mlp.proj");
  }
  both("vit.layernorm", "final_norm");
  both("classifier", "classifier");
  return out;
}

}  // namespace

std::vector<std::pair<std::string, Tensor>> ViT::hf_state_dict() const {
  std::vector<std::pair<std::string, Tensor>> out;
  for (const Layout& l : layouts(cfg_)) {
    Tensor p = parameter(l.ours).detach();
    if (l.row_begin >= 0) p = p.slice(0, l.row_begin, l.row_end);
    p = p.contiguous().clone();
    out.emplace_back(l.hf, l.hf_shape.ndim() ? p.view(l.hf_shape) : p);
  }
  return out;
}

void ViT::load_hf_state_dict(const TensorSource& get, const std::string& source) {
  for (const Layout& l : layouts(cfg_)) {
    const Tensor src = get(l.hf);
    if (!src.defined()) throw FormatError(source + ": missing tensor '" + l.hf + "'");
    Tensor dst = parameter(l.ours).detach();
    if (l.row_begin >= 0) dst = dst.slice(0, l.row_begin, l.row_end);
    const Shape want = l.hf_shape.ndim() ? l.hf_shape : dst.shape();
    if (src.shape() != want)
      throw FormatError(source + ": tensor '" + l.hf + "' has shape " + src.shape().str() + ", the config implies " + want.str());
    dst.copy_from(l.hf_shape.ndim() ? src.contiguous().view(dst.shape()) : src);
  }
}

std::vector<LinearSite> ViT::linear_sites() const {
  const int64_t D = cfg_.d_model, F = cfg_.d_ff;
  std::vector<LinearSite> out;
  for (int64_t i = 0; i < cfg_.n_layers; ++i) {
    const auto& block = *blocks_[static_cast<size_t>(i)];
    const std::string h = "vit.encoder.layer." + std::to_string(i) + ".";
    out.push_back({&block.attention().qkv(), "qkv", "attn",
                   {{"query", "attention.attention.query", h + "attention.attention.query", 0, D},
                    {"key", "attention.attention.key", h + "attention.attention.key", D, 2 * D},
                    {"value", "attention.attention.value", h + "attention.attention.value", 2 * D, 3 * D}}});
    out.push_back({&block.attention().proj(), "proj", "attn", {{"dense", "attention.output.dense", h + "attention.output.dense", 0, D}}});
    out.push_back({&block.mlp().in(), "fc", "mlp", {{"dense", "intermediate.dense", h + "intermediate.dense", 0, F}}});
    out.push_back({&block.mlp().out(), "proj", "mlp", {{"dense", "output.dense", h + "output.dense", 0, D}}});
  }
  return out;
}

}  // namespace cornerstone::models
