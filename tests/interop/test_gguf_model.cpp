// GPT <-> GGUF: bit-exact round trips for both architectures and every type, export -> import ->
// export giving the same file, the metadata and tensor table llama.cpp reads, the Q/K row
// permutation (checked through what it must preserve: attention scores under each side's RoPE),
// type fallbacks and tied heads.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "cornerstone/core/error.h"
#include "cornerstone/io/gguf.h"
#include "cornerstone/interop/convert.h"
#include "cornerstone/models/gpt/gpt_gguf.h"
#include "cornerstone/models/load.h"
#include "cornerstone/ops/quantize.h"
#include "cli.h"
#include "interop_fixtures.h"
#include "test_util.h"

using namespace cornerstone;
using namespace cornerstone::testing;
namespace fs = std::filesystem;
using models::DecoderArch;

namespace {

constexpr DType kTypes[] = {DType::F32, DType::F16, DType::BF16, DType::Q8_0, DType::Q4_0};
constexpr DecoderArch kArchs[] = {DecoderArch::GPT2, DecoderArch::Llama};

class GGUFModel : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = fresh_temp_dir("gguf_model"); }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& p) const { return (fs::path(dir_) / p).string(); }
  std::string dir_;
};

// The vocabulary is padded beyond the tokenizer's for Llama (as a run with vocab_size 320 would).
int64_t vocab_for(DecoderArch arch) { return tiny_tokenizer().vocab_size() + (arch == DecoderArch::Llama ? 20 : 0); }

// What the engine sees after a GGUF of `type`: 2-D weights (not GPT-2's position table) pass
// through the type, everything else stays f32.
Tensor through(const std::string& name, const Tensor& p, DType type) {
  if (p.ndim() == 1 || name == "wpe.weight" || type == DType::F32) return p.detach().contiguous();
  if (type == DType::Q8_0 || type == DType::Q4_0) return ops::dequantize(ops::quantize(p.detach(), type));
  return p.detach().to(type).to(DType::F32);
}

interop::ExportOptions gguf_options(DType type) {
  interop::ExportOptions o;
  o.format = interop::ExportFormat::GGUF;
  o.type = type;
  o.name = "tiny";
  return o;
}

}  // namespace

TEST_F(GGUFModel, RoundTripsAreBitExactAndReExportReproducesTheFile) {
  for (DecoderArch arch : kArchs) {
    for (DType type : kTypes) {
      SCOPED_TRACE(models::arch_name(arch) + " " + std::string(dtype_name(type)));
      const models::GPT model(tiny_config(arch, vocab_for(arch)), 11);
      const std::string run = path("a/model"), gguf = path("a.gguf"), imported = path("b/model"), again = path("b.gguf");
      write_model_folder(model, &tiny_tokenizer(), run);
      interop::export_model(run, gguf, gguf_options(type));
      interop::import_model(gguf, imported);
      const auto back = models::load_gpt(imported);
      ASSERT_EQ(back->config().to_json(), [&] {
        auto c = model.config();
        c.init_std = back->config().init_std;  // not carried by GGUF
        return c.to_json();
      }());
      for (const auto& [name, p] : model.named_parameters()) {
        const Tensor expected = through(name, p, type), got = back->parameter(name);
        EXPECT_EQ(got.to_vector(), expected.to_vector()) << name;
      }
      // export -> import -> export: the same bytes (weights, metadata and embedded tokenizer).
      interop::export_model(imported, again, gguf_options(type));
      EXPECT_TRUE(file_bytes(gguf) == file_bytes(again)) << "re-export differs";
      fs::remove_all(path("a")), fs::remove_all(path("b")), fs::remove(gguf), fs::remove(again);
    }
  }
}

TEST_F(GGUFModel, MetadataAndTensorTableAreWhatLlamaCppReads) {
  for (DecoderArch arch : kArchs) {
    SCOPED_TRACE(models::arch_name(arch));
    const auto cfg = tiny_config(arch, vocab_for(arch));
    const models::GPT model(cfg, 3);
    const std::string gguf = path(models::arch_name(arch) + ".gguf");
    const auto report = interop::export_pretrained(model, &tiny_tokenizer(), gguf, gguf_options(DType::Q8_0));
    const auto f = io::GGUFFile::open(gguf);
    const std::string a = models::arch_name(arch);
    EXPECT_EQ(f.get_string("general.architecture"), a);
    EXPECT_EQ(f.get_string("general.name"), "tiny");
    EXPECT_EQ(f.get_uint("general.alignment"), 32u);
    EXPECT_EQ(f.get_uint("general.file_type"), 7u);
    EXPECT_EQ(f.get_uint("general.quantization_version"), 2u);
    EXPECT_EQ(f.get(a + ".context_length").type(), io::GGUFType::U32);
    EXPECT_EQ(f.get_uint(a + ".context_length"), 64u);
    EXPECT_EQ(f.get_uint(a + ".embedding_length"), 64u);
    EXPECT_EQ(f.get_uint(a + ".block_count"), 2u);
    EXPECT_EQ(f.get_uint(a + ".feed_forward_length"), static_cast<uint64_t>(cfg.d_ff));
    EXPECT_EQ(f.get_uint(a + ".attention.head_count"), 4u);
    EXPECT_EQ(f.get_uint(a + ".vocab_size"), static_cast<uint64_t>(cfg.vocab_size));
    if (arch == DecoderArch::Llama) {
      EXPECT_EQ(f.get_uint("llama.attention.head_count_kv"), 2u);
      EXPECT_EQ(f.get_float("llama.attention.layer_norm_rms_epsilon"), 1e-6f);
      EXPECT_EQ(f.get_uint("llama.rope.dimension_count"), 16u);
      EXPECT_EQ(f.get_float("llama.rope.freq_base"), 5000.0f);
    } else {
      EXPECT_EQ(f.get_float("gpt2.attention.layer_norm_epsilon"), 1e-5f);
      EXPECT_FALSE(f.contains("gpt2.attention.head_count_kv"));
    }
    std::vector<std::string> names;
    for (const auto& t : f.tensors()) names.push_back(t.name);
    const std::vector<std::string> gpt2_names = {
        "token_embd.weight", "position_embd.weight", "blk.0.attn_norm.weight", "blk.0.attn_norm.bias",
        "blk.0.attn_qkv.weight", "blk.0.attn_qkv.bias", "blk.0.attn_output.weight", "blk.0.attn_output.bias",
        "blk.0.ffn_norm.weight", "blk.0.ffn_norm.bias", "blk.0.ffn_up.weight", "blk.0.ffn_up.bias",
        "blk.0.ffn_down.weight", "blk.0.ffn_down.bias"};
    const std::vector<std::string> llama_names = {
        "token_embd.weight", "blk.0.attn_norm.weight", "blk.0.attn_q.weight", "blk.0.attn_k.weight",
        "blk.0.attn_v.weight", "blk.0.attn_output.weight", "blk.0.ffn_norm.weight", "blk.0.ffn_gate.weight",
        "blk.0.ffn_up.weight", "blk.0.ffn_down.weight"};
    const auto& first = arch == DecoderArch::GPT2 ? gpt2_names : llama_names;
    ASSERT_GE(names.size(), first.size());
    EXPECT_EQ(std::vector<std::string>(names.begin(), names.begin() + static_cast<long>(first.size())), first);
    // Embeddings, 2 layers of 12 (GPT-2) or 9 (Llama) tensors, the final norm (+ bias), the untied head.
    EXPECT_EQ(names.size(), arch == DecoderArch::GPT2 ? 2u + 24 + 2 : 1u + 18 + 1 + 1);
    EXPECT_EQ(f.find_tensor("output.weight") != nullptr, arch == DecoderArch::Llama) << "tied heads are not stored";
    for (const auto& t : f.tensors()) {
      const bool matrix = t.dims.size() == 2 && t.name != "position_embd.weight";
      EXPECT_EQ(t.type, matrix ? 8u : 0u) << t.name;  // q8_0 matrices, f32 vectors and positions
    }
    const auto* q = f.find_tensor(arch == DecoderArch::GPT2 ? "blk.1.attn_qkv.weight" : "blk.1.attn_k.weight");
    ASSERT_NE(q, nullptr);
    EXPECT_EQ(q->dims, (std::vector<uint64_t>{64, arch == DecoderArch::GPT2 ? 192u : 32u})) << "dims are [in, out]";
    EXPECT_TRUE(report.notes.empty() || arch == DecoderArch::Llama);  // Llama's vocabulary is padded
  }
}

TEST_F(GGUFModel, QKPermutationPreservesAttentionScoresUnderLlamaCppRope) {
  const auto cfg = tiny_config(DecoderArch::Llama, vocab_for(DecoderArch::Llama));
  const models::GPT model(cfg, 5);
  const std::string gguf = path("p.gguf");
  interop::export_pretrained(model, nullptr, gguf, gguf_options(DType::F32));
  const auto f = io::GGUFFile::open(gguf);
  const int64_t C = cfg.d_model, D = cfg.head_dim(), H = cfg.n_heads, Hkv = cfg.n_kv_heads;
  const Tensor qkv = model.parameter("blocks.1.attn.qkv.weight");
  const std::vector<float> W = qkv.to_vector();  // (H*D + 2*Hkv*D, C), HF row order
  const std::vector<float> Wq = f.tensor("blk.1.attn_q.weight").to_vector(), Wk = f.tensor("blk.1.attn_k.weight").to_vector();
  const auto x = random_vector(static_cast<size_t>(C), 9), y = random_vector(static_cast<size_t>(C), 10);
  auto matvec = [&](const float* w, int64_t rows, const std::vector<float>& v) {
    std::vector<double> out(static_cast<size_t>(rows));
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < C; ++c) out[r] += static_cast<double>(w[r * C + c]) * v[c];
    return out;
  };
  auto angle = [&](int64_t pos, int64_t i) { return pos * std::pow(static_cast<double>(cfg.rope_theta), -2.0 * i / D); };
  // Hugging Face: pairs (i, i + D/2). llama.cpp "llama" (NORM mode): pairs (2i, 2i + 1).
  auto rope_half = [&](std::vector<double> v, int64_t pos) {
    for (size_t h = 0; h < v.size() / D; ++h)
      for (int64_t i = 0; i < D / 2; ++i) {
        double& a = v[h * D + i];
        double& b = v[h * D + i + D / 2];
        const double c = std::cos(angle(pos, i)), s = std::sin(angle(pos, i)), a0 = a;
        a = a0 * c - b * s, b = b * c + a0 * s;
      }
    return v;
  };
  auto rope_pairs = [&](std::vector<double> v, int64_t pos) {
    for (size_t h = 0; h < v.size() / D; ++h)
      for (int64_t i = 0; i < D / 2; ++i) {
        double& a = v[h * D + 2 * i];
        double& b = v[h * D + 2 * i + 1];
        const double c = std::cos(angle(pos, i)), s = std::sin(angle(pos, i)), a0 = a;
        a = a0 * c - b * s, b = b * c + a0 * s;
      }
    return v;
  };
  const auto q_hf = rope_half(matvec(W.data(), H * D, x), 7), k_hf = rope_half(matvec(W.data() + H * D * C, Hkv * D, y), 3);
  const auto q_gg = rope_pairs(matvec(Wq.data(), H * D, x), 7), k_gg = rope_pairs(matvec(Wk.data(), Hkv * D, y), 3);
  for (int64_t h = 0; h < H; ++h) {
    const int64_t g = h / (H / Hkv);
    double s_hf = 0, s_gg = 0;
    for (int64_t d = 0; d < D; ++d) s_hf += q_hf[h * D + d] * k_hf[g * D + d], s_gg += q_gg[h * D + d] * k_gg[g * D + d];
    EXPECT_NEAR(s_gg, s_hf, 1e-9 * (1 + std::fabs(s_hf))) << "head " << h;
  }
  // And the permutation is not the identity (the check above would pass trivially otherwise).
  EXPECT_NE(Wq, std::vector<float>(W.begin(), W.begin() + H * D * C));
  // permute_rope_rows is inverted by its inverse.
  const Tensor back = models::permute_rope_rows(f.tensor("blk.1.attn_q.weight"), H, false);
  EXPECT_EQ(back.to_vector(), std::vector<float>(W.begin(), W.begin() + H * D * C));
}

TEST_F(GGUFModel, RowsThatAreNotWholeBlocksFallBackToF16WithANote) {
  auto cfg = tiny_config(DecoderArch::Llama, vocab_for(DecoderArch::Llama));
  cfg.d_ff = 48;  // ffn_down rows have 48 elements
  const models::GPT model(cfg, 2);
  const std::string gguf = path("f.gguf");
  const auto r = interop::export_pretrained(model, &tiny_tokenizer(), gguf, gguf_options(DType::Q4_0));
  bool noted = false;
  for (const auto& n : r.notes) noted |= n.find("blk.0.ffn_down.weight: rows of 48 are not whole q4_0 blocks of 32; written as f16") != std::string::npos;
  EXPECT_TRUE(noted);
  const auto f = io::GGUFFile::open(gguf);
  EXPECT_EQ(f.find_tensor("blk.0.ffn_down.weight")->type, 1u);
  EXPECT_EQ(f.find_tensor("blk.0.ffn_up.weight")->type, 2u);
  const auto back = models::gpt_from_gguf(f);
  EXPECT_EQ(back->parameter("blocks.0.mlp.down.weight").to_vector(),
            model.parameter("blocks.0.mlp.down.weight").to(DType::F16).to(DType::F32).to_vector());
}

TEST_F(GGUFModel, AnOutputThatCopiesTheEmbeddingImportsAsATiedHead) {
  // llama.cpp's GPT-2 converter stores the tied head twice; a different output is an untied head.
  const auto cfg = tiny_config(DecoderArch::GPT2, vocab_for(DecoderArch::GPT2));
  const models::GPT model(cfg, 4);
  for (bool copy : {true, false}) {
    io::GGUFWriter w;
    models::add_gpt_to_gguf(model, DType::F32, "t", w);
    Tensor out = model.parameter("wte.weight").detach().clone();
    if (!copy) out.data<float>()[5] += 1.0f;
    w.add_tensor("output.weight", out);
    w.write(path("o.gguf"));
    const auto back = models::gpt_from_gguf(io::GGUFFile::open(path("o.gguf")));
    EXPECT_EQ(back->config().tie_embeddings, copy);
    if (!copy) {
      EXPECT_EQ(back->parameter("lm_head.weight").to_vector(), out.to_vector());
    }
    fs::remove(path("o.gguf"));
  }
}
