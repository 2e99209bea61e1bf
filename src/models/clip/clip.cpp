#include "cornerstone/models/clip/clip.h"

#include "cornerstone/core/error.h"
#include "cornerstone/ops/conv.h"
#include "cornerstone/ops/embedding.h"

namespace cornerstone::models {

Clip::Clip(const ClipConfig& config, uint64_t seed, bool random_init) : cfg_(config) {
  cfg_.validate();
  Rng rng(seed);
  nn::BlockConfig vb = cfg_.vision_block(), tb = cfg_.text_block();
  const float std = random_init ? cfg_.init_std : 0.0f;
  if (!random_init) vb.init_std = vb.proj_init_std = tb.init_std = tb.proj_init_std = 0.0f;
  const int64_t V = cfg_.vision_d_model, D = cfg_.text_d_model, C = cfg_.image.channels, p = cfg_.patch_size;
  auto normal = [&](const Shape& s) { return std > 0 ? Tensor::randn(s, rng, std) : Tensor::zeros(s); };
  // Vision tower.
  patch_weight_ = register_parameter("vision.patch.weight", normal({V, C, p, p}));
  cls_token_ = register_parameter("vision.cls_token", normal({V}));
  vision_position_ = register_parameter("vision.position", normal({cfg_.num_patches() + 1, V}));
  pre_norm_ = register_module("vision.pre_norm", std::make_shared<nn::Norm>(nn::NormKind::LayerNorm, V, cfg_.norm_eps, true));
  for (int64_t i = 0; i < cfg_.vision_layers; ++i)
    vision_blocks_.push_back(register_module("vision.blocks." + std::to_string(i), std::make_shared<nn::TransformerBlock>(vb, rng)));
  post_norm_ = register_module("vision.post_norm", std::make_shared<nn::Norm>(nn::NormKind::LayerNorm, V, cfg_.norm_eps, true));
  visual_projection_ = register_module("visual_projection", std::make_shared<nn::Linear>(V, cfg_.projection_dim, false, rng, std));
  // Text tower.
  token_embedding_ = register_parameter("text.token_embedding", normal({cfg_.vocab_size, D}));
  text_position_ = register_parameter("text.position", normal({cfg_.context, D}));
  for (int64_t i = 0; i < cfg_.text_layers; ++i)
    text_blocks_.push_back(register_module("text.blocks." + std::to_string(i), std::make_shared<nn::TransformerBlock>(tb, rng)));
  final_norm_ = register_module("text.final_norm", std::make_shared<nn::Norm>(nn::NormKind::LayerNorm, D, cfg_.norm_eps, true));
  text_projection_ = register_module("text_projection", std::make_shared<nn::Linear>(D, cfg_.projection_dim, false, rng, std));
  logit_scale_ = register_parameter("logit_scale", Tensor::full({1}, cfg_.logit_scale_init));
}

Tensor Clip::image_embeds(const Tensor& pixels, Rng* dropout_rng) const {
  check_dtype(pixels, DType::F32, "clip", "pixels");
  const int64_t C = cfg_.image.channels, S = cfg_.image.image_size;
  if (pixels.ndim() != 4 || pixels.size(1) != C || pixels.size(2) != S || pixels.size(3) != S)
    throw ShapeError("clip: pixels " + pixels.shape().str() + " must be (B, " + std::to_string(C) + ", " + std::to_string(S) + ", " +
                     std::to_string(S) + ") (the model's channels and image_size)");
  Tensor x = ops::patch_embedding(pixels, patch_weight_, Tensor(), cfg_.patch_size);        // (B, N, V)
  x = ops::add_positions(ops::prepend_token(x, cls_token_), vision_position_);                // (B, N + 1, V)
  x = nn::forward_blocks(vision_blocks_, pre_norm_->forward(x), nullptr, dropout_rng, Tensor(), checkpoint_);
  return visual_projection_->forward(post_norm_->forward(x.select(1, 0).contiguous()));
}

Tensor Clip::hidden_states(const data::Batch& batch, Rng* dropout_rng) const {
  const Tensor& ids = batch.get(data::batch_keys::ids, "clip");
  check_ndim(ids, 2, "clip", "ids");
  const int64_t T = ids.size(1);
  if (T > cfg_.context)
    throw ShapeError("clip: captions of " + std::to_string(T) + " tokens are longer than the text tower's context " + std::to_string(cfg_.context));
  checked_lengths(ids.size(0), T, batch[data::batch_keys::lengths], "clip");
  // Causal attention: the padding after a caption never reaches its real tokens.
  Tensor x = ops::add_positions(ops::embedding(token_embedding_, ids), text_position_);
  x = nn::forward_blocks(text_blocks_, x, nullptr, dropout_rng, Tensor(), checkpoint_);
  return final_norm_->forward(x);
}

Tensor Clip::sequence_features(const Tensor& h, const Tensor& lengths) const { return last_token_states(h, lengths, "clip"); }

Tensor Clip::text_embeds(const data::Batch& batch, Rng* dropout_rng) const {
  // Pooled at each caption's last token, which must be the end-of-text token (transformers pools
  // at the first end-of-text token: the same position when a caption holds no other).
  const Tensor& ids = batch.get(data::batch_keys::ids, "clip");
  check_dtype(ids, DType::I32, "clip", "ids");
  check_ndim(ids, 2, "clip", "ids");
  const int64_t B = ids.size(0), T = ids.size(1);
  const std::vector<int32_t> len = checked_lengths(B, T, batch[data::batch_keys::lengths], "clip");
  const std::vector<int32_t> v = ids.to_int_vector();
  for (int64_t b = 0; b < B; ++b)
    if (v[static_cast<size_t>(b * T + len[static_cast<size_t>(b)] - 1)] != cfg_.eos_token_id)
      throw ValueError("clip: caption " + std::to_string(b) + " does not end with the end-of-text token (id " +
                       std::to_string(cfg_.eos_token_id) + ")");
  return text_projection_->forward(sequence_features(hidden_states(batch, dropout_rng), batch[data::batch_keys::lengths]));
}

// ---- Hugging Face layout (CLIPModel) ---------------------------------------------------------------
//
//   vision_model.embeddings.class_embedding (V)                   <- vision.cls_token
//   vision_model.embeddings.patch_embedding.weight (V, C, p, p)   <- vision.patch.weight (no bias)
//   vision_model.embeddings.position_embedding.weight (N + 1, V)  <- vision.position
//   vision_model.pre_layrnorm.*  (sic)                            <- vision.pre_norm
//   vision_model.encoder.layers.<i>.*                             <- vision.blocks.<i>.* (below)
//   vision_model.post_layernorm.*                                 <- vision.post_norm
//   visual_projection.weight (P, V)                               <- visual_projection.weight
//   text_model.embeddings.token_embedding.weight (vocab, D)       <- text.token_embedding
//   text_model.embeddings.position_embedding.weight (context, D)  <- text.position
//   text_model.encoder.layers.<i>.*                               <- text.blocks.<i>.*
//   text_model.final_layer_norm.*                                 <- text.final_norm
//   text_projection.weight (P, D)                                 <- text_projection.weight
//   logit_scale ()                                                <- logit_scale (1)
//
// A layer: layer_norm1 <- norm1, self_attn.{q,k,v}_proj <- attn.qkv (rows), self_attn.out_proj <-
// attn.proj, layer_norm2 <- norm2, mlp.fc1 <- mlp.fc, mlp.fc2 <- mlp.proj.

namespace {

struct Layout {
  std::string hf, ours;
  int64_t row_begin = -1, row_end = -1;
  bool scalar = false;  // a 0-dimensional tensor in transformers' layout (logit_scale), (1) here
};

void add_layers(std::vector<Layout>& out, const std::string& hf_prefix, const std::string& prefix, int64_t layers, int64_t D) {
  auto both = [&](const std::string& hf, const std::string& ours, int64_t b = -1, int64_t e = -1) {
    out.push_back({hf + ".weight", ours + ".weight", b, e});
    out.push_back({hf + ".bias", ours + ".bias", b, e});
  };
  for (int64_t i = 0; i < layers; ++i) {
    const std::string h = hf_prefix + std::to_string(i) + ".", b = prefix + std::to_string(i) + ".";
    both(h + "layer_norm1", b + "norm1");
    both(h + "self_attn.q_proj", b + "attn.qkv", 0, D);
    both(h + "self_attn.k_proj", b + "attn.qkv", D, 2 * D);
    both(h + "self_attn.v_proj", b + "attn.qkv", 2 * D, 3 * D);
    both(h + "self_attn.out_proj", b + "attn.proj");
    both(h + "layer_norm2", b + "norm2");
    both(h + "mlp.fc1", b + "mlp.fc");
    both(h + "mlp.fc2", b + "mlp.proj");
  }
}

std::vector<Layout> layouts(const ClipConfig& c) {
  std::vector<Layout> out;
  auto norm = [&](const std::string& hf, const std::string& ours) {
    out.push_back({hf + ".weight", ours + ".weight"});
    out.push_back({hf + ".bias", ours + ".bias"});
  };
  out.push_back({"vision_model.embeddings.class_embedding", "vision.cls_token"});
  out.push_back({"vision_model.embeddings.patch_embedding.weight", "vision.patch.weight"});
  out.push_back({"vision_model.embeddings.position_embedding.weight", "vision.position"});
  norm("vision_model.pre_layrnorm", "vision.pre_norm");
  add_layers(out, "vision_model.encoder.layers.", "vision.blocks.", c.vision_layers, c.vision_d_model);
  norm("vision_model.post_layernorm", "vision.post_norm");
  out.push_back({"visual_projection.weight", "visual_projection.weight"});
  out.push_back({"text_model.embeddings.token_embedding.weight", "text.token_embedding"});
  out.push_back({"text_model.embeddings.position_embedding.weight", "text.position"});
  add_layers(out, "text_model.encoder.layers.", "text.blocks.", c.text_layers, c.text_d_model);
  norm("text_model.final_layer_norm", "text.final_norm");
  out.push_back({"text_projection.weight", "text_projection.weight"});
  out.push_back({"logit_scale", "logit_scale", -1, -1, true});
  return out;
}

}  // namespace

std::vector<std::pair<std::string, Tensor>> Clip::hf_state_dict() const {
  std::vector<std::pair<std::string, Tensor>> out;
  for (const Layout& l : layouts(cfg_)) {
    Tensor p = parameter(l.ours).detach();
    if (l.row_begin >= 0) p = p.slice(0, l.row_begin, l.row_end);
    p = p.contiguous().clone();
    out.emplace_back(l.hf, l.scalar ? p.view(Shape()) : p);
  }
  return out;
}

void Clip::load_hf_state_dict(const TensorSource& get, const std::string& source) {
  for (const Layout& l : layouts(cfg_)) {
    const Tensor src = get(l.hf);
    if (!src.defined()) throw FormatError(source + ": missing tensor '" + l.hf + "'");
    Tensor dst = parameter(l.ours).detach();
    if (l.row_begin >= 0) dst = dst.slice(0, l.row_begin, l.row_end);
    // A scalar may also come as (1) (some exporters keep a dimension).
    const bool fits = l.scalar ? src.numel() == 1 && src.ndim() <= 1 : src.shape() == dst.shape();
    if (!fits)
      throw FormatError(source + ": tensor '" + l.hf + "' has shape " + src.shape().str() + ", the config implies " +
                        (l.scalar ? std::string("a scalar") : dst.shape().str()));
    dst.copy_from(l.scalar ? src.contiguous().view(dst.shape()) : src);
  }
}

std::vector<LinearSite> Clip::linear_sites() const {
  std::vector<LinearSite> out;
  auto tower = [&](const std::vector<std::shared_ptr<nn::TransformerBlock>>& blocks, const std::string& hf_prefix, int64_t D, int64_t F) {
    for (size_t i = 0; i < blocks.size(); ++i) {
      const auto& block = *blocks[i];
      const std::string h = hf_prefix + std::to_string(i) + ".";
      out.push_back({&block.attention().qkv(), "qkv", "attn",
                     {{"q_proj", "self_attn.q_proj", h + "self_attn.q_proj", 0, D},
                      {"k_proj", "self_attn.k_proj", h + "self_attn.k_proj", D, 2 * D},
                      {"v_proj", "self_attn.v_proj", h + "self_attn.v_proj", 2 * D, 3 * D}}});
      out.push_back({&block.attention().proj(), "proj", "attn", {{"out_proj", "self_attn.out_proj", h + "self_attn.out_proj", 0, D}}});
      out.push_back({&block.mlp().in(), "fc", "mlp", {{"fc1", "mlp.fc1", h + "mlp.fc1", 0, F}}});
      out.push_back({&block.mlp().out(), "proj", "mlp", {{"fc2", "mlp.fc2", h + "mlp.fc2", 0, D}}});
    }
  };
  tower(text_blocks_, "text_model.encoder.layers.", cfg_.text_d_model, cfg_.text_d_ff);
  tower(vision_blocks_, "vision_model.encoder.layers.", cfg_.vision_d_model, cfg_.vision_d_ff);
  return out;
}

}  // namespace cornerstone::models
