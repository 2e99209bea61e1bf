// `cornerstone quantize`: a model folder with its matrices in bf16, q8_0 or q4_0 (see
// infer/quantized_folder.h), for generate and eval on machines short of memory or bandwidth.
#include <cstdio>
#include <filesystem>

#include "command.h"
#include "cornerstone/infer/inference_weights.h"
#include "cornerstone/infer/quantized_folder.h"
#include "cornerstone/cornerstone.h"

namespace {

void add_quantize(CLI::App& app) {
  auto* cmd = app.add_subcommand("quantize", "Write a copy of a model with its weights in bf16, q8_0 or q4_0");
  static std::string model_path, type, out;
  cmd->add_option("--model", model_path, "Any language model load() opens: a run, a checkpoint, a Hugging Face folder, a GGUF file, a PEFT adapter over its base")->required();
  cmd->add_option("--type", type, "Weight format: q8_0, q4_0 (GGUF blocks of 32 with an fp16 scale) or bf16")->required();
  cmd->add_option("--out", out, "Folder to write (config.json, model.safetensors, tokenizer.json)")->required();
  cmd->callback([] {
    using namespace cornerstone;
    const kernels::WeightFormat f = kernels::weight_format_from_name(type);
    // Any family whose model is a causal LM with a decoder stack (save_quantized_model refuses others, naming why).
    namespace fs = std::filesystem;
    const Model m = load(model_path);
    const auto model = m.language_model("quantize");
    const bool folder = fs::is_directory(model_path);
    infer::save_quantized_model(*model, f, out, folder ? model_path : "");
    if (!folder && m.has_tokenizer()) m.tokenizer().save((fs::path(out) / "tokenizer.json").string());  // a GGUF file's own
    const auto w = infer::InferenceWeights::load(out);  // reads back what was written, validating it
    const double mb = 1e-6 * static_cast<double>(w.total_bytes());
    const double f32_mb = 4e-6 * static_cast<double>(model->num_parameters());
    std::printf("wrote %s: %s, %.1f MB of weights (f32: %.1f MB), %.1f MB read per generated token\n", out.c_str(), type.c_str(), mb,
                f32_mb, 1e-6 * static_cast<double>(w.decode_bytes()));
  });
}

}  // namespace

CORNERSTONE_COMMAND(add_quantize, 38)
