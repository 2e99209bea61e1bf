#include "cornerstone/adapt/lora.h"

#include <cmath>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>

#include "cornerstone/autograd/grad_mode.h"
#include "cornerstone/core/checked.h"
#include "cornerstone/core/error.h"
#include "cornerstone/io/atomic_file.h"
#include "cornerstone/io/safetensors.h"
#include "cornerstone/kernels/gemm.h"
#include "cornerstone/models/decoder_stack.h"
#include "cornerstone/ops/dropout.h"
#include "cornerstone/ops/elementwise.h"
#include "cornerstone/ops/linear.h"

namespace cornerstone::adapt {

namespace fs = std::filesystem;

void LoRAConfig::validate() const {
  if (rank <= 0) throw ValueError("lora: rank must be positive, got " + std::to_string(rank));
  if (!(alpha > 0)) throw ValueError("lora: alpha must be positive");
  if (!(dropout >= 0 && dropout < 1)) throw ValueError("lora: dropout must be in [0, 1)");
  if (targets.empty()) throw ValueError("lora: no target modules");
  if (base_storage != DType::F32 && base_storage != DType::BF16 && base_storage != DType::Q8_0)
    throw ValueError("lora: the frozen base is stored as f32, bf16 or q8_0");
}

// ---- the adapter ---------------------------------------------------------------------------------------

LoRAAdapter::LoRAAdapter(int64_t in_features, const std::vector<Slice>& slices, const LoRAConfig& cfg, Rng& rng)
    : slices_(slices), scale_(cfg.scale()), dropout_(cfg.dropout) {
  const float bound = 1.0f / std::sqrt(static_cast<float>(in_features));  // kaiming_uniform(a = sqrt(5)), as PEFT
  for (size_t i = 0; i < slices_.size(); ++i) {
    Slice& s = slices_[i];
    s.A = register_parameter(std::to_string(i) + ".lora_A", Tensor::uniform({cfg.rank, in_features}, rng, -bound, bound));
    s.B = register_parameter(std::to_string(i) + ".lora_B", Tensor::zeros({s.row_end - s.row_begin, cfg.rank}));
  }
}

Tensor LoRAAdapter::apply(const Tensor& x, const Tensor& y) const {
  if (merged_) return y;
  const Tensor in = training() && dropout_ > 0 && rng_ ? ops::dropout(x, dropout_, *rng_) : x;
  Tensor out = y;
  for (const Slice& s : slices_) {
    const Tensor h = ops::scale(ops::linear(in, s.A), scale_);  // (..., r), scaled while it is small
    out = ops::add_columns(out, ops::linear(h, s.B), s.row_begin);
  }
  return out;
}

void LoRAAdapter::fold_into(Tensor& weight, float sign) {
  if (!weight.defined() || weight.dtype() != DType::F32)
    throw UnsupportedError("lora: merging needs an fp32 base weight (load the base model in f32)");
  const int64_t in = weight.size(1);
  for (const Slice& s : slices_) {
    const int64_t rows = s.row_end - s.row_begin, r = s.A.size(0);
    // W[rows] += sign * scale * B (rows, r) @ A (r, in)
    kernels::sgemm(kernels::Trans::N, kernels::Trans::N, rows, in, r, sign * scale_, s.B.data<float>(), r,
                   s.A.data<float>(), in, 1.0f, weight.data<float>() + s.row_begin * in, in);
  }
}

// ---- where adapters go ------------------------------------------------------------------------------------

namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0 &&
         (s.size() == suffix.size() || s[s.size() - suffix.size() - 1] == '.');
}

bool matches(const std::string& target, const models::LinearSite& layer, const models::LinearSlice& slice) {
  return target == "all-linear" || target == layer.group || target == layer.our_leaf || target == slice.hf_leaf ||
         ends_with(slice.hf_name, target);
}

std::vector<LoRAAdapter*> adapters(const models::PretrainedModel& model) {
  std::vector<LoRAAdapter*> out;
  for (const models::LinearSite& site : model.linear_sites())
    if (auto* a = dynamic_cast<LoRAAdapter*>(site.layer->adapter().get())) out.push_back(a);
  return out;
}

}  // namespace

int64_t apply_lora(models::PretrainedModel& model, const LoRAConfig& cfg, uint64_t seed) {
  cfg.validate();
  model.set_requires_grad(false);
  Rng rng(seed);
  std::set<std::string> used;
  int64_t n = 0;
  const std::vector<models::LinearSite> sites = model.linear_sites();
  for (const models::LinearSite& site : sites) {
    std::vector<LoRAAdapter::Slice> slices;
    for (const models::LinearSlice& s : site.slices) {
      bool hit = false;
      for (const std::string& t : cfg.targets)
        if (matches(t, site, s)) hit = true, used.insert(t);
      if (hit) slices.push_back({s.hf_name, s.hf_module, s.row_begin, s.row_end, Tensor(), Tensor()});
    }
    if (cfg.base_storage != DType::F32) site.layer->freeze(cfg.base_storage);
    if (slices.empty()) continue;
    if (site.layer->adapter()) throw ValueError("lora: the model already has adapters");
    site.layer->set_adapter(std::make_shared<LoRAAdapter>(site.layer->in_features(), slices, cfg, rng));
    n += static_cast<int64_t>(slices.size());
  }
  for (const std::string& t : cfg.targets)
    if (!used.count(t)) {
      std::set<std::string> leaves;  // the names this family's projections go by
      std::string known;
      for (const models::LinearSite& site : sites)
        for (const models::LinearSlice& s : site.slices)
          if (leaves.insert(s.hf_module).second) known += s.hf_module + ", ";
      throw ValueError("lora: target '" + t + "' matches no layer of this " + model.model_type() + " model (targets: " + known +
                       "their last parts, or attn, mlp, all-linear)");
    }
  return n;
}

void merge_lora(models::PretrainedModel& model) {
  autograd::NoGradGuard no_grad;
  for (const models::LinearSite& site : model.linear_sites())
    if (auto* a = dynamic_cast<LoRAAdapter*>(site.layer->adapter().get()); a && !a->merged()) {
      Tensor w = site.layer->weight();
      a->fold_into(w, +1.0f);
      a->set_merged(true);
    }
}

void set_lora_active(models::PretrainedModel& model, bool active) {
  for (const models::LinearSite& site : model.linear_sites())
    if (auto* a = dynamic_cast<LoRAAdapter*>(site.layer->adapter().get())) a->set_merged(!active);  // "merged": not added in forward()
}

void unmerge_lora(models::PretrainedModel& model) {
  autograd::NoGradGuard no_grad;
  for (const models::LinearSite& site : model.linear_sites())
    if (auto* a = dynamic_cast<LoRAAdapter*>(site.layer->adapter().get()); a && a->merged()) {
      Tensor w = site.layer->weight();
      a->fold_into(w, -1.0f);
      a->set_merged(false);
    }
}

infer::LoRADeltas lora_deltas(const models::PretrainedModel& model) {
  const std::optional<models::DecoderStack> stack = model.config().decoder_stack();
  if (!stack) throw UnsupportedError("lora: a " + model.model_type() + " model has no inference runner to serve adapters on");
  std::map<const void*, std::string> names;  // a weight's storage -> its parameter name
  for (const auto& [name, p] : model.named_parameters()) names.emplace(p.raw_data(), name);
  infer::LoRADeltas d;
  d.layers.resize(static_cast<size_t>(stack->n_layers));
  int64_t terms = 0;
  for (const models::LinearSite& site : model.linear_sites()) {
    auto* a = dynamic_cast<LoRAAdapter*>(site.layer->adapter().get());
    if (!a || a->merged()) continue;
    const Tensor& w = site.layer->weight();
    const auto it = w.defined() ? names.find(w.raw_data()) : names.end();
    if (it == names.end()) throw UnsupportedError("lora: an adapted layer's weight is not an f32 parameter of the model");
    // <blocks>L.<projection>.weight, as InferenceWeights names them.
    const std::string& name = it->second;
    size_t dot = std::string::npos;
    int64_t layer = -1;
    if (name.rfind(stack->blocks, 0) == 0) {
      dot = name.find('.', stack->blocks.size());
      if (dot != std::string::npos) layer = std::stoll(name.substr(stack->blocks.size(), dot - stack->blocks.size()));
    }
    const std::string leaf = dot == std::string::npos ? "" : name.substr(dot + 1);
    infer::LoRALayerTerms* L = layer >= 0 && layer < stack->n_layers ? &d.layers[static_cast<size_t>(layer)] : nullptr;
    std::vector<infer::LoRATerm>* out = !L                               ? nullptr
                                        : leaf == "attn.qkv.weight"      ? &L->qkv
                                        : leaf == "attn.proj.weight"     ? &L->proj
                                        : leaf == "mlp.fc.weight" || leaf == "mlp.gate_up.weight" ? &L->up
                                        : leaf == "mlp.proj.weight" || leaf == "mlp.down.weight"  ? &L->down
                                                                                                 : nullptr;
    if (!out) throw UnsupportedError("lora: the adapter on '" + name + "' is outside the decoder blocks' projections");
    for (const LoRAAdapter::Slice& s : a->slices()) {
      out->push_back({s.row_begin, s.row_end, s.A.detach().contiguous(), s.B.detach().contiguous(), a->scale()});
      ++terms;
    }
  }
  if (terms == 0) throw ValueError("lora: the model has no unmerged LoRA adapter");
  return d;
}

void bake_lora(models::PretrainedModel& model) {
  merge_lora(model);
  for (const models::LinearSite& site : model.linear_sites()) site.layer->set_adapter(nullptr);
}

void set_lora_dropout_rng(models::PretrainedModel& model, Rng* rng) {
  for (LoRAAdapter* a : adapters(model)) a->set_dropout_rng(rng);
}

// ---- PEFT files --------------------------------------------------------------------------------------------

void save_peft(const models::PretrainedModel& model, const LoRAConfig& cfg, const std::string& dir, const std::string& base_model,
               const std::string& task_type) {
  std::vector<std::pair<std::string, Tensor>> tensors;
  std::set<std::string> modules, adapted;  // module paths inside a layer ("attn.c_proj"), full names
  for (LoRAAdapter* a : adapters(model))
    for (const auto& s : a->slices()) {
      tensors.emplace_back("base_model.model." + s.hf_name + ".lora_A.weight", s.A.detach());
      tensors.emplace_back("base_model.model." + s.hf_name + ".lora_B.weight", s.B.detach());
      modules.insert(s.hf_module);
      adapted.insert(s.hf_name);
    }
  // PEFT adapts every module whose name ends with a target. The module paths inside a layer
  // ("attn.c_proj", "self_attn.q_proj", "attention.self.query") say that unambiguously unless one of
  // them is also the ending of a module left out (BERT's "output.dense" ends
  // "attention.output.dense"): then the full module names are listed instead.
  bool ambiguous = false;
  for (const models::LinearSite& site : model.linear_sites())
    for (const models::LinearSlice& s : site.slices)
      if (!adapted.count(s.hf_name))
        for (const std::string& m : modules) ambiguous |= ends_with(s.hf_name, m);
  const std::set<std::string>& targets = ambiguous ? adapted : modules;
  if (tensors.empty()) throw ValueError("save_peft: the model has no LoRA adapters");
  fs::create_directories(dir);
  io::save_safetensors((fs::path(dir) / "adapter_model.safetensors").string(), tensors, {{"format", "pt"}});
  const nlohmann::json j = {{"peft_type", "LORA"},
                            {"task_type", task_type},
                            {"r", cfg.rank},
                            {"lora_alpha", cfg.alpha},
                            {"lora_dropout", cfg.dropout},
                            {"target_modules", std::vector<std::string>(targets.begin(), targets.end())},
                            {"bias", "none"},
                            {"fan_in_fan_out", model.model_type() == "gpt2"},  // GPT-2's Conv1D layout
                            {"base_model_name_or_path", base_model},
                            {"inference_mode", true}};
  io::write_file_atomic((fs::path(dir) / "adapter_config.json").string(), j.dump(2) + "\n");
}

namespace {
constexpr int64_t kMaxLoRARank = 1 << 16;  // past any model width (config_limits.h caps d_model at 2^16)
}  // namespace

LoRAConfig load_peft(models::PretrainedModel& model, const std::string& dir) {
  const std::string cfg_path = (fs::path(dir) / "adapter_config.json").string();
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(io::read_file(cfg_path));
  } catch (const nlohmann::json::exception& e) {
    throw FormatError(cfg_path + ": not valid JSON: " + e.what());
  }
  if (j.value("peft_type", "") != "LORA") throw UnsupportedError(cfg_path + ": peft_type '" + j.value("peft_type", "") + "' (LORA is supported)");
  LoRAConfig cfg;
  try {
    cfg.rank = j.at("r").get<int64_t>();
    cfg.alpha = j.at("lora_alpha").get<float>();
    cfg.dropout = j.value("lora_dropout", 0.0f);
    cfg.targets = j.at("target_modules").get<std::vector<std::string>>();
  } catch (const nlohmann::json::exception& e) {
    throw FormatError(cfg_path + ": missing or invalid r / lora_alpha / target_modules: " + e.what());
  }
  // Before apply_lora allocates (r, in) and (out, r) matrices per site: a downloaded config's r
  // is checked against the file's own weights below only after that allocation.
  check_limit(cfg.rank, 1, kMaxLoRARank, cfg_path + ": r");
  if (!std::isfinite(cfg.alpha) || !(cfg.dropout >= 0 && cfg.dropout < 1))
    throw FormatError(cfg_path + ": lora_alpha must be finite and lora_dropout in [0, 1)");
  if (j.value("use_rslora", false) || j.value("use_dora", false))
    throw UnsupportedError(cfg_path + ": rsLoRA / DoRA adapters are not supported");
  const std::string weights = (fs::path(dir) / "adapter_model.safetensors").string();
  const auto f = io::SafeTensorsFile::open(weights);
  // r sizes every adapter apply_lora allocates: it must be the rank the file's lora_A tensors have.
  for (const auto& name : f.names()) {
    const auto& shape = f.info(name).shape;
    if (name.ends_with(".lora_A.weight") && (shape.ndim() != 2 || shape[0] != cfg.rank))
      throw FormatError(weights + ": tensor '" + name + "' has shape " + shape.str() + ", expected (" + std::to_string(cfg.rank) + ", " +
                        (shape.ndim() == 2 ? std::to_string(shape[1]) : std::string("in_features")) + "): r = " + std::to_string(cfg.rank) + " in " + cfg_path);
  }
  apply_lora(model, cfg, 0);
  autograd::NoGradGuard no_grad;
  for (LoRAAdapter* a : adapters(model))
    for (const auto& s : a->slices())
      for (const auto& [suffix, dst] : {std::pair<std::string, Tensor>{".lora_A.weight", s.A}, {".lora_B.weight", s.B}}) {
        const std::string name = "base_model.model." + s.hf_name + suffix;
        if (!f.contains(name)) throw FormatError(weights + ": missing tensor '" + name + "'");
        const Tensor src = f.get(name);
        if (src.shape() != dst.shape())
          throw FormatError(weights + ": tensor '" + name + "' has shape " + src.shape().str() + ", expected " + dst.shape().str());
        Tensor d = dst.detach();
        d.copy_from(src);
      }
  return cfg;
}

}  // namespace cornerstone::adapt
