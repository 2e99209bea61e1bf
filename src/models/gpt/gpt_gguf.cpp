#include "cornerstone/models/gpt/gpt_gguf.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <set>

#include "cornerstone/core/checked.h"
#include "cornerstone/core/error.h"
#include "cornerstone/ops/quantize.h"

namespace cornerstone::models {

namespace {

// One GGUF tensor: a whole Cornerstone parameter or a row range of a fused one.
struct GgufLayout {
  std::string gguf;
  std::string ours;
  int64_t row_begin = -1, row_end = -1;  // -1: the whole parameter
  int64_t rope_heads = 0;                // > 0: interleave the rows of this many heads (attn_q / attn_k)
};

std::vector<GgufLayout> gguf_layouts(const DecoderConfig& c) {
  std::vector<GgufLayout> out;
  const int64_t D = c.head_dim(), q = c.n_heads * D, kv = c.n_kv_heads * D, F = c.d_ff;
  const bool gpt2 = c.arch == DecoderArch::GPT2;
  out.push_back({"token_embd.weight", "wte.weight"});
  if (gpt2) out.push_back({"position_embd.weight", "wpe.weight"});
  for (int64_t i = 0; i < c.n_layers; ++i) {
    const std::string g = "blk." + std::to_string(i) + ".", b = "blocks." + std::to_string(i) + ".";
    out.push_back({g + "attn_norm.weight", b + "norm1.weight"});
    if (gpt2) {
      out.push_back({g + "attn_norm.bias", b + "norm1.bias"});
      out.push_back({g + "attn_qkv.weight", b + "attn.qkv.weight"});
      out.push_back({g + "attn_qkv.bias", b + "attn.qkv.bias"});
      out.push_back({g + "attn_output.weight", b + "attn.proj.weight"});
      out.push_back({g + "attn_output.bias", b + "attn.proj.bias"});
      out.push_back({g + "ffn_norm.weight", b + "norm2.weight"});
      out.push_back({g + "ffn_norm.bias", b + "norm2.bias"});
      out.push_back({g + "ffn_up.weight", b + "mlp.fc.weight"});
      out.push_back({g + "ffn_up.bias", b + "mlp.fc.bias"});
      out.push_back({g + "ffn_down.weight", b + "mlp.proj.weight"});
      out.push_back({g + "ffn_down.bias", b + "mlp.proj.bias"});
    } else {
      out.push_back({g + "attn_q.weight", b + "attn.qkv.weight", 0, q, c.n_heads});
      out.push_back({g + "attn_k.weight", b + "attn.qkv.weight", q, q + kv, c.n_kv_heads});
      out.push_back({g + "attn_v.weight", b + "attn.qkv.weight", q + kv, q + 2 * kv});
      out.push_back({g + "attn_output.weight", b + "attn.proj.weight"});
      out.push_back({g + "ffn_norm.weight", b + "norm2.weight"});
      out.push_back({g + "ffn_gate.weight", b + "mlp.gate_up.weight", 0, F});
      out.push_back({g + "ffn_up.weight", b + "mlp.gate_up.weight", F, 2 * F});
      out.push_back({g + "ffn_down.weight", b + "mlp.down.weight"});
    }
  }
  out.push_back({"output_norm.weight", "norm_f.weight"});
  if (gpt2) out.push_back({"output_norm.bias", "norm_f.bias"});
  if (!c.tie_embeddings) out.push_back({"output.weight", "lm_head.weight"});
  return out;
}

io::GGUFValue count(int64_t n) {
  return n <= std::numeric_limits<uint32_t>::max() ? io::GGUFValue::u32(static_cast<uint32_t>(n))
                                                   : io::GGUFValue::u64(static_cast<uint64_t>(n));
}

// True when the file has no output.weight (llama.cpp then uses token_embd), or one that is a
// byte-identical copy of token_embd (llama.cpp's GPT-2 converter writes the tied head twice).
bool output_is_token_embd(const io::GGUFFile& f) {
  const io::GGUFTensorInfo* out = f.find_tensor("output.weight");
  const io::GGUFTensorInfo* emb = f.find_tensor("token_embd.weight");
  if (!out) return true;
  return emb && out->type == emb->type && out->dims == emb->dims &&
         std::memcmp(f.tensor_data(*out), f.tensor_data(*emb), out->nbytes) == 0;
}

}  // namespace

uint32_t gguf_file_type(DType type) {
  switch (type) {
    case DType::F32: return 0;
    case DType::F16: return 1;
    case DType::Q4_0: return 2;
    case DType::Q8_0: return 7;
    case DType::BF16: return 32;
    default: throw UnsupportedError("GGUF export type must be f32, f16, bf16, q8_0 or q4_0, not " + std::string(dtype_name(type)));
  }
}

Tensor permute_rope_rows(const Tensor& w, int64_t n_heads, bool to_gguf) {
  check_ndim(w, 2, "permute_rope_rows", "w");
  const int64_t rows = w.size(0), cols = w.size(1), D = rows / n_heads, half = D / 2;
  if (rows % n_heads != 0 || D % 2 != 0)
    throw ShapeError("permute_rope_rows: " + std::to_string(rows) + " rows are not " + std::to_string(n_heads) +
                     " heads of an even size");
  const Tensor src = w.detach().contiguous();
  Tensor out = Tensor::empty(w.shape(), w.dtype());
  const size_t row_bytes = dtype_bytes(w.dtype(), cols);
  const char* s = static_cast<const char*>(src.raw_data());
  char* d = static_cast<char*>(out.raw_data());
  for (int64_t h = 0; h < n_heads; ++h)
    for (int64_t i = 0; i < half; ++i)
      for (int64_t k = 0; k < 2; ++k) {
        const int64_t hf_row = h * D + k * half + i, gguf_row = h * D + 2 * i + k;
        const int64_t from = to_gguf ? hf_row : gguf_row, to = to_gguf ? gguf_row : hf_row;
        std::memcpy(d + to * row_bytes, s + from * row_bytes, row_bytes);
      }
  return out;
}

std::vector<std::string> add_gpt_to_gguf(const GPT& model, DType type, const std::string& name, io::GGUFWriter& w) {
  using io::GGUFValue;
  const DecoderConfig& c = model.config();
  const std::string arch = arch_name(c.arch);
  const bool quantized = type == DType::Q8_0 || type == DType::Q4_0;
  w.set("general.architecture", GGUFValue::string(arch));
  w.set("general.name", GGUFValue::string(name));
  w.set("general.file_type", GGUFValue::u32(gguf_file_type(type)));
  if (quantized) w.set("general.quantization_version", GGUFValue::u32(2));
  w.set(arch + ".context_length", count(c.context));
  w.set(arch + ".embedding_length", count(c.d_model));
  w.set(arch + ".block_count", count(c.n_layers));
  w.set(arch + ".feed_forward_length", count(c.d_ff));
  w.set(arch + ".attention.head_count", count(c.n_heads));
  if (c.arch == DecoderArch::GPT2) {
    w.set(arch + ".attention.layer_norm_epsilon", GGUFValue::f32(c.norm_eps));
  } else {
    w.set(arch + ".attention.head_count_kv", count(c.n_kv_heads));
    w.set(arch + ".attention.layer_norm_rms_epsilon", GGUFValue::f32(c.norm_eps));
    w.set(arch + ".rope.dimension_count", count(c.head_dim()));
    w.set(arch + ".rope.freq_base", GGUFValue::f32(c.rope_theta));
  }
  w.set(arch + ".vocab_size", count(c.vocab_size));

  std::vector<std::string> notes;
  for (const GgufLayout& l : gguf_layouts(c)) {
    Tensor p = model.parameter(l.ours).detach();
    if (l.row_begin >= 0) p = p.slice(0, l.row_begin, l.row_end);
    p = p.contiguous();
    if (l.rope_heads) p = permute_rope_rows(p, l.rope_heads, /*to_gguf=*/true);
    DType t = type;
    if (p.ndim() == 1 || l.gguf == "position_embd.weight") t = DType::F32;
    if ((t == DType::Q8_0 || t == DType::Q4_0) && p.size(1) % 32 != 0) {
      notes.push_back(l.gguf + ": rows of " + std::to_string(p.size(1)) + " are not whole " + std::string(dtype_name(t)) +
                      " blocks of 32; written as f16");
      t = DType::F16;
    }
    w.add_tensor(l.gguf, t == DType::Q8_0 || t == DType::Q4_0 ? ops::quantize(p, t) : p.to(t));
  }
  return notes;
}

DecoderConfig config_from_gguf(const io::GGUFFile& f) {
  const std::string& arch = f.get_string("general.architecture");
  DecoderConfig c;
  if (arch == "gpt2") c.arch = DecoderArch::GPT2;
  else if (arch == "llama") c.arch = DecoderArch::Llama;
  else
    throw UnsupportedError(f.where("general.architecture") + " is '" + arch +
                           "', which Cornerstone does not run (gpt2 and llama are)");
  auto uint = [&](const std::string& key) { return static_cast<int64_t>(f.get_uint(arch + "." + key)); };
  auto has = [&](const std::string& key) { return f.contains(arch + "." + key); };
  c.context = uint("context_length");
  c.d_model = uint("embedding_length");
  c.n_layers = uint("block_count");
  c.d_ff = uint("feed_forward_length");
  c.n_heads = uint("attention.head_count");
  c.n_kv_heads = has("attention.head_count_kv") ? uint("attention.head_count_kv") : c.n_heads;
  if (c.arch == DecoderArch::GPT2) {
    c.norm_eps = static_cast<float>(f.get_float("gpt2.attention.layer_norm_epsilon"));
    c.tie_embeddings = true;
  } else {
    c.norm_eps = static_cast<float>(f.get_float("llama.attention.layer_norm_rms_epsilon"));
    c.rope_theta = has("rope.freq_base") ? static_cast<float>(f.get_float("llama.rope.freq_base")) : 10000.0f;
    if (has("rope.dimension_count") && uint("rope.dimension_count") != c.d_model / std::max<int64_t>(c.n_heads, 1))
      throw UnsupportedError(f.where("llama.rope.dimension_count") + " = " + std::to_string(uint("rope.dimension_count")) +
                             ": partial rotary embeddings are not supported (it must equal the head dimension)");
    if (has("rope.scaling.type") && f.get_string("llama.rope.scaling.type") != "none")
      throw UnsupportedError(f.where("llama.rope.scaling.type") + " is '" + f.get_string("llama.rope.scaling.type") +
                             "': RoPE scaling is not supported");
    if (has("attention.key_length") && uint("attention.key_length") != c.d_model / std::max<int64_t>(c.n_heads, 1))
      throw UnsupportedError(f.where("llama.attention.key_length") + ": a head dimension other than embedding_length / head_count is not supported");
  }
  if (has("expert_count") && uint("expert_count") > 0)
    throw UnsupportedError(f.where(arch + ".expert_count") + ": mixture-of-experts models are not supported");
  const io::GGUFTensorInfo* emb = f.find_tensor("token_embd.weight");
  if (!emb) throw FormatError(f.path() + ": missing tensor 'token_embd.weight'");
  if (emb->dims.size() != 2)
    throw FormatError(f.path() + ": tensor 'token_embd.weight' has shape " + emb->shape().str() + ", expected (vocab, " +
                      std::to_string(c.d_model) + ")");
  c.vocab_size = emb->shape()[0];
  if (has("vocab_size") && uint("vocab_size") != c.vocab_size)
    throw FormatError(f.where(arch + ".vocab_size") + " = " + std::to_string(uint("vocab_size")) +
                      " but token_embd.weight has " + std::to_string(c.vocab_size) + " rows");
  c.tie_embeddings = output_is_token_embd(f);
  c.dropout = 0.0f;
  try {
    c.validate();
  } catch (const ValueError& e) {
    throw FormatError(f.path() + ": the " + arch + ".* metadata does not describe a valid model: " + e.what());
  }
  return c;
}

std::unique_ptr<GPT> gpt_from_gguf(const io::GGUFFile& f) {
  const DecoderConfig c = config_from_gguf(f);
  const std::vector<GgufLayout> layouts = gguf_layouts(c);
  // Refuse tensors the layout would silently drop before reading anything.
  std::set<std::string> expected;
  for (const GgufLayout& l : layouts) expected.insert(l.gguf);
  if (c.tie_embeddings) expected.insert("output.weight");  // absent, or a copy of token_embd
  std::vector<std::string> extra;
  for (const auto& t : f.tensors())
    if (!expected.count(t.name)) extra.push_back(t.name);
  if (!extra.empty()) {
    std::string list;
    for (size_t i = 0; i < extra.size() && i < 5; ++i) list += (i ? ", '" : "'") + extra[i] + "'";
    if (extra.size() > 5) list += " and " + std::to_string(extra.size() - 5) + " more";
    throw FormatError(f.path() + ": " + (extra.size() == 1 ? "tensor " : "tensors ") + list + (extra.size() == 1 ? " is" : " are") +
                      " not part of Cornerstone's " + arch_name(c.arch) +
                      " layout (attention biases, extra norms and other variants are not supported); refusing to drop " +
                      (extra.size() == 1 ? "it" : "them") + " silently");
  }
  // Before allocating: the metadata's model must fit in the values the file holds, give or take
  // 2^24 parameters (64 MB; smaller mismatches are named tensor by tensor below).
  uint64_t stored = 0;
  for (const auto& t : f.tensors()) stored = checked_add(stored, static_cast<uint64_t>(t.shape().numel()), f.path());
  if (static_cast<uint64_t>(c.num_parameters()) > stored + (uint64_t{1} << 24))
    throw FormatError(f.path() + ": the " + arch_name(c.arch) + ".* metadata describes a model of " +
                      std::to_string(c.num_parameters()) + " parameters, but the file's tensors hold only " +
                      std::to_string(stored) + " values");
  auto model = std::make_unique<GPT>(c, 0, /*random_init=*/false);
  for (const GgufLayout& l : layouts) {
    const io::GGUFTensorInfo* info = f.find_tensor(l.gguf);
    if (!info) throw FormatError(f.path() + ": missing tensor '" + l.gguf + "'");
    Tensor dst = model->parameter(l.ours).detach();
    if (l.row_begin >= 0) dst = dst.slice(0, l.row_begin, l.row_end);
    if (info->shape() != dst.shape())
      throw FormatError(f.path() + ": tensor '" + l.gguf + "' has shape " + info->shape().str() + " (GGUF dims reversed), the " +
                        arch_name(c.arch) + ".* metadata implies " + dst.shape().str());
    Tensor src = ops::dequantize(f.tensor(l.gguf));
    if (l.rope_heads) src = permute_rope_rows(src, l.rope_heads, /*to_gguf=*/false);
    dst.copy_from(src);
  }
  return model;
}

}  // namespace cornerstone::models
