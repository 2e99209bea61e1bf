// `cornerstone evaluate` (alias `eval`): one verb for every metric. The model and the data decide
// which: perplexity on token shards for a language model, accuracy / F1 for a classifier or
// tagger, recall and MRR for an embedder, response loss for instruction pairs (cornerstone.h).
#include <cstdio>
#include <optional>

#include "command.h"
#include "cornerstone/core/error.h"
#include "cornerstone/cornerstone.h"
#include "cornerstone/rag/evaluate.h"
#include "cornerstone/rag/rerank.h"

namespace {

void add_evaluate(CLI::App& app) {
  using namespace cornerstone;
  auto* cmd = app.add_subcommand("evaluate", "Score a model on data: perplexity on token shards, accuracy / macro-F1 on labelled "
                                 "JSONL, retrieval metrics for embedders, response loss on instruction pairs, few-shot benchmarks (--tasks)");
  cmd->alias("eval");
  static std::string model, task, data, index, rerank;
  static std::vector<std::string> modes;
  static EvaluateOptions o;
  static bool json = false;
  cmd->add_option("--model", model, "Any model: a run or Hugging Face folder, a quantized or fine-tuned folder, a GGUF file "
                                    "(retrieval: the query embedder, default the index's)");
  cmd->add_option("--data", data, "A folder written by `cornerstone prepare` (perplexity), a JSONL file (task metrics), or labelled images for an image classifier: an IDX folder (Fashion-MNIST), a folder of <split>/<class>/ folders, or an image JSONL; for an image-text model (clip), captioned images ({split}.jsonl with \"text\"): retrieval recall and zero-shot accuracy");
  static std::vector<std::string> tasks;
  static eval::HarnessOptions h;
  cmd->add_option("--tasks", tasks, "Few-shot benchmarks instead of --data: task files (JSONL, docs/alignment.md) or built-in "
                  "names (arithmetic, arithmetic-steps, arithmetic-choice), comma-separated or repeated")->delimiter(',');
  cmd->add_option("--shots", h.shots, "--tasks: examples before each document")->capture_default_str()->check(CLI::NonNegativeNumber);
  cmd->add_option("--seed", h.seed, "--tasks: seed of the few-shot draws")->capture_default_str();
  cmd->add_option("--limit", h.limit, "--tasks: score the first N documents of each task (0: all)")->capture_default_str();
  cmd->add_option("--max-new-tokens", h.max_new_tokens, "--tasks: tokens generated per answer")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--marker", h.marker, "--tasks: the answer is the text after this marker's last occurrence")->capture_default_str();
  cmd->add_option("--task", task, "Check that the model was fine-tuned for this task (classify | tag | contrastive | sft | reward | dpo | grpo), or "
                                  "retrieval: score an --index on JSONL {\"query\", \"relevant\": [paths]}")
      ->check(CLI::IsMember({"classify", "tag", "contrastive", "sft", "reward", "dpo", "grpo", "ppo", "retrieval"}));
  cmd->add_option("--index", index, "Retrieval: the index folder (`cornerstone index build`)");
  cmd->add_option("--rerank", rerank, "Retrieval: also score each mode with this cross-encoder reranking its candidates");
  cmd->add_option("--mode", modes, "Retrieval: search modes to score (default: dense bm25 hybrid)")->check(CLI::IsMember({"dense", "bm25", "hybrid"}));
  cmd->add_option("--split", o.split, "Token shards or images: which split (images: val falls back to test)")->check(CLI::IsMember({"val", "train", "test"}))->capture_default_str();
  cmd->add_option("--context", o.context, "Token shards: tokens per window (default: the model's context)");
  cmd->add_option("--batch", o.batch, "Windows or examples per forward pass")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--max-tokens", o.max_tokens, "Token shards: evaluate at most this many tokens (0: all)");
  cmd->add_option("--template", o.prompt_template, "Image-text models (clip): the caption each label becomes for zero-shot "
                  "classification, {} standing for the label")->capture_default_str();
  cmd->add_flag("--json", json, "Print one JSON object");
  cmd->callback([] {
    if (!tasks.empty()) {
      if (!data.empty() || !task.empty() || !index.empty()) throw ValueError("--tasks scores benchmarks; it takes no --data, --task or --index");
      if (model.empty()) throw ValueError("--model is required");
      const Evaluation e = load(model).evaluate_tasks(tasks, h);
      std::printf("%s", json ? (e.json.dump() + "\n").c_str() : e.table.c_str());
      return;
    }
    if (data.empty()) throw ValueError("give --data (token shards or JSONL) or --tasks (benchmarks)");
    if (task == "retrieval" || !index.empty()) {
      if (task != "retrieval") throw ValueError("--index is for --task retrieval");
      if (index.empty()) throw ValueError("--task retrieval needs --index (the index to score)");
      const auto ix = rag::Index::open(index, model);
      const auto queries = rag::read_retrieval_queries(data);
      std::vector<rag::RetrievalScores> rows;
      std::optional<rag::CrossEncoder> reranker;
      if (!rerank.empty()) reranker.emplace(rerank);
      for (const auto& name : modes.empty() ? std::vector<std::string>{"dense", "bm25", "hybrid"} : modes) {
        rows.push_back(rag::evaluate_retrieval(ix, queries, rag::search_mode_from_name(name)));
        if (reranker) rows.push_back(rag::evaluate_retrieval(ix, queries, rag::search_mode_from_name(name), &*reranker));
      }
      if (json) {
        nlohmann::json j = nlohmann::json::array();
        for (const auto& r : rows) j.push_back(r.to_json());
        std::printf("%s\n", nlohmann::json{{"metric", "retrieval"}, {"index", index}, {"modes", j}}.dump().c_str());
      } else {
        std::printf("%s", rag::retrieval_table(rows).c_str());
      }
      return;
    }
    if (model.empty()) throw ValueError("--model is required");
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
