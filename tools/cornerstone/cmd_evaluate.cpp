// `cornerstone evaluate` (alias `eval`): one verb for every metric. The model and the data decide
// which: perplexity on token shards for a language model, accuracy / F1 for a classifier or
// tagger, recall and MRR for an embedder, response loss for instruction pairs (cornerstone.h).
#include <cstdio>

#include "command.h"
#include "cornerstone/core/error.h"
#include "cornerstone/cornerstone.h"

namespace {

void add_evaluate(CLI::App& app) {
  using namespace cornerstone;
  auto* cmd = app.add_subcommand("evaluate", "Score a model on data: perplexity on token shards, accuracy / macro-F1 on labelled "
                                 "JSONL, retrieval metrics for embedders, response loss on instruction pairs");
  cmd->alias("eval");
  static std::string model, task, data;
  static EvaluateOptions o;
  static bool json = false;
  cmd->add_option("--model", model, "Any model: a run or Hugging Face folder, a quantized or fine-tuned folder, a GGUF file")->required();
  cmd->add_option("--data", data, "A folder written by `cornerstone prepare` (perplexity) or a JSONL file (task metrics)")->required();
  cmd->add_option("--task", task, "Check that the model was fine-tuned for this task (classify | tag | contrastive | sft)")
      ->check(CLI::IsMember({"classify", "tag", "contrastive", "sft"}));
  cmd->add_option("--split", o.split, "Token shards: which split")->check(CLI::IsMember({"val", "train"}))->capture_default_str();
  cmd->add_option("--context", o.context, "Token shards: tokens per window (default: the model's context)");
  cmd->add_option("--batch", o.batch, "Windows or examples per forward pass")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--max-tokens", o.max_tokens, "Token shards: evaluate at most this many tokens (0: all)");
  cmd->add_flag("--json", json, "Print one JSON object");
  cmd->callback([] {
    const Model m = load(model);
    // A model never fine-tuned is scored on instruction pairs as it is (the baseline of an sft run).
    if (!task.empty() && task != m.kind() && !(task == "sft" && m.kind() == "pretrained" && m.can(Capability::CausalLM)))
      throw ValueError("--task " + task + ", but '" + model + "' is " +
                       (m.kind() == "pretrained" ? std::string("not fine-tuned") : "fine-tuned for " + m.kind()));
    const Evaluation e = m.evaluate(data, o);
    std::printf("%s", json ? (e.json.dump() + "\n").c_str() : e.table.c_str());
  });
}

}  // namespace

CORNERSTONE_COMMAND(add_evaluate, 35)
