// `cornerstone export`: a model as a Hugging Face folder (transformers) or a GGUF file (llama.cpp).
#include <chrono>
#include <cstdio>
#include <filesystem>

#include "command.h"
#include "cornerstone/core/error.h"
#include "cornerstone/cornerstone.h"
#include "cornerstone/io/safetensors_checkpoint.h"
#include "cornerstone/interop/convert.h"

namespace {

void add_export(CLI::App& app) {
  auto* cmd = app.add_subcommand("export", "Export a model as a Hugging Face folder or a GGUF file (llama.cpp)");
  static std::string model_path, out, format, type = "f32", shard_size, tokenizer, name;
  cmd->add_option("--model", model_path,
                  "Any language model load() opens: a run, a checkpoint, a Hugging Face folder, a GGUF file, a PEFT adapter "
                  "over its base, an instruction-tuned folder")
      ->required();
  cmd->add_option("--format", format, "hf: transformers folder (safetensors); gguf: one llama.cpp file")
      ->required()
      ->check(CLI::IsMember({"hf", "gguf"}));
  cmd->add_option("--out", out, "Output folder (hf) or file (gguf); must not exist yet")->required();
  cmd->add_option("--type", type, "Weight type: f32, f16, bf16 (hf and gguf), q8_0, q4_0 (gguf)")
      ->check(CLI::IsMember({"f32", "f16", "bf16", "q8_0", "q4_0"}))
      ->capture_default_str();
  cmd->add_option("--shard-size", shard_size, "hf: split the weights into shards of at most this size (e.g. 2GB)");
  cmd->add_option("--tokenizer", tokenizer, "Tokenizer to include (default: the model folder's tokenizer.json)");
  cmd->add_option("--name", name, "gguf: general.name (default: the model folder's name)");
  cmd->callback([] {
    using namespace cornerstone;
    interop::ExportOptions o;
    o.format = interop::export_format_from_name(format);
    o.type = dtype_from_name(type);
    if (!shard_size.empty()) {
      if (o.format != interop::ExportFormat::HF) throw ValueError("--shard-size applies to --format hf only");
      o.shard_bytes = io::parse_byte_size(shard_size);
    }
    o.name = name;
    if (o.name.empty()) {  // the model's folder name, or the GGUF file's name without its extension
      namespace fs = std::filesystem;
      const fs::path p = fs::absolute(fs::path(model_path)).lexically_normal();
      const fs::path named = p.has_filename() ? p : p.parent_path();
      o.name = fs::is_directory(named) ? named.filename().string() : named.stem().string();
    }
    const auto t0 = std::chrono::steady_clock::now();
    LoadOptions lo;
    lo.tokenizer = tokenizer;
    const Model m = load(model_path, lo);
    const auto r = interop::export_pretrained(*m.language_model("export"), m.has_tokenizer() ? &m.tokenizer() : nullptr, out, o);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    for (const auto& n : r.notes) std::fprintf(stderr, "note: %s\n", n.c_str());
    std::printf("exported %s (%s, %zu file%s, %.1f MB) in %.2f s\n", out.c_str(), type.c_str(), r.files.size(),
                r.files.size() == 1 ? "" : "s", static_cast<double>(r.bytes) / 1e6, s);
  });
}

}  // namespace

CORNERSTONE_COMMAND(add_export, 50)
