// `cornerstone eval`: loss and perplexity of a model on prepared data.
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "command.h"
#include "cornerstone/data/token_shards.h"
#include "cornerstone/infer/evaluate.h"
#include "cornerstone/infer/quantized_folder.h"
#include "cornerstone/io/atomic_file.h"
#include "cornerstone/models/load.h"
#include "cornerstone/train/evaluate.h"

namespace {

void add_eval(CLI::App& app) {
  auto* cmd = app.add_subcommand("eval", "Loss and perplexity of a model on prepared token shards");
  static std::string model_path, data_dir, split = "val";
  static int64_t context = 0, batch = 8, max_tokens = 0;
  static bool json = false;
  cmd->add_option("--model", model_path,
                  "Model folder (a run, a checkpoint, config.json + model.safetensors, or a quantized folder)")
      ->required();
  cmd->add_option("--data", data_dir, "Folder written by `cornerstone prepare`")->required();
  cmd->add_option("--split", split, "Which split")->check(CLI::IsMember({"val", "train"}))->capture_default_str();
  cmd->add_option("--context", context, "Tokens per window (default: the model's context)");
  cmd->add_option("--batch", batch, "Windows per forward pass")->capture_default_str();
  cmd->add_option("--max-tokens", max_tokens, "Evaluate at most this many tokens (0: all)");
  cmd->add_flag("--json", json, "Print one JSON object");
  cmd->callback([] {
    using namespace cornerstone;
    const auto data = data::TokenDataset::open(data_dir, split);
    // Quantized folders are scored through the inference path (the weights as generate uses them).
    const std::string cfg_path = model_path + "/config.json";
    bool quantized = false;
    if (std::filesystem::exists(cfg_path)) {
      const auto cfg = nlohmann::json::parse(io::read_file(cfg_path), nullptr, false);
      quantized = !cfg.is_discarded() && infer::folder_format(cfg, cfg_path).has_value();
    }
    train::EvalResult r;
    if (quantized) {
      const auto w = infer::InferenceWeights::load(model_path);
      r = infer::evaluate_perplexity(w, data, context > 0 ? context : w.config().context, batch, max_tokens);
    } else {
      const auto model = models::load_gpt(model_path);
      r = train::evaluate_loss(*model, data, context > 0 ? context : model->config().context, batch, max_tokens);
    }
    if (json)
      std::printf("%s\n", nlohmann::json{{"loss", r.loss}, {"perplexity", r.perplexity}, {"tokens", r.tokens}}.dump().c_str());
    else
      std::printf("%s loss %.4f | perplexity %.2f | %lld tokens\n", split.c_str(), r.loss, r.perplexity,
                  static_cast<long long>(r.tokens));
  });
}

}  // namespace

CORNERSTONE_COMMAND(add_eval, 35)
