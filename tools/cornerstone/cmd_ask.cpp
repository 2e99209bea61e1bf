// `cornerstone ask`: retrieval-augmented generation (rag/ask.h) — find passages in an index,
// give them to a model as numbered sources, print its answer and the sources.
#include <algorithm>
#include <cstdio>
#include <optional>
#include <string>

#include "command.h"
#include "cornerstone/core/error.h"
#include "cornerstone/rag/ask.h"
#include "cornerstone/rag/rerank.h"

namespace {

using namespace cornerstone;

void add_ask(CLI::App& app) {
  auto* cmd = app.add_subcommand("ask", "Answer a question from an index's passages with a generative model, citing them");
  static std::string dir, model, question, mode = "hybrid", chat = "auto", rerank;
  static int64_t k = 4;
  static infer::GenerateOptions g;
  static bool greedy = false, json = false, show_prompt = false;
  g.max_tokens = 128;
  cmd->add_option("--index", dir, "The index folder (`cornerstone index build`)")->required();
  cmd->add_option("--model", model, "The model that answers (any causal LM load() opens)")->required();
  cmd->add_option("--question", question, "The question")->required();
  cmd->add_option("--k", k, "Passages to retrieve")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--mode", mode, "Retrieval: dense, bm25 or hybrid")->capture_default_str()->check(CLI::IsMember({"dense", "bm25", "hybrid"}));
  cmd->add_option("--chat", chat, "Render the prompt with the model's chat template: yes, no, or auto (yes for instruction-tuned models)")
      ->capture_default_str()
      ->check(CLI::IsMember({"auto", "yes", "no"}));
  cmd->add_option("--max-tokens", g.max_tokens, "Longest answer, in tokens")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--temperature", g.sampling.temperature, "Sampling temperature")->capture_default_str();
  cmd->add_option("--top-p", g.sampling.top_p, "Nucleus sampling mass (1 = off)")->capture_default_str();
  cmd->add_option("--seed", g.seed, "Sampling seed")->capture_default_str();
  cmd->add_option("--rerank", rerank, "Rescore the retrieved candidates with this cross-encoder (`finetune --task rerank`)");
  cmd->add_flag("--greedy", greedy, "Always take the most likely token");
  cmd->add_flag("--show-prompt", show_prompt, "Print the prompt the model read");
  cmd->add_flag("--json", json, "Print one JSON object: answer, cited sources, passages");
  cmd->callback([] {
    const auto ix = rag::Index::open(dir);
    const Model m = load(model);
    rag::AskOptions o;
    o.search.mode = rag::search_mode_from_name(mode);
    o.search.k = k;
    std::optional<rag::CrossEncoder> reranker;
    if (!rerank.empty()) reranker.emplace(rerank), o.search.rerank = &*reranker;
    o.generate = g;
    o.generate.sampling.greedy = greedy;
    o.generate.sampling.validate();
    o.chat = chat == "yes" || (chat == "auto" && m.instruction_tuned());
    const rag::Answer a = rag::ask(ix, m, question, o);
    if (json) {
      nlohmann::json sources = nlohmann::json::array();
      for (size_t i = 0; i < a.sources.size(); ++i) sources.push_back(rag::hit_json(a.sources[i], static_cast<int64_t>(i + 1)));
      const nlohmann::json j = {{"question", question}, {"answer", a.text}, {"finish_reason", a.finish_reason}, {"cited", a.cited}, {"sources", sources}, {"prompt", a.prompt}};
      std::printf("%s\n", j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
      return;
    }
    if (show_prompt) std::printf("---- prompt ----\n%s\n---- answer ----\n", a.prompt.c_str());
    std::string answer = a.text;
    while (!answer.empty() && (answer.front() == ' ' || answer.front() == '\n')) answer.erase(answer.begin());
    std::printf("%s\n\nsources:\n", answer.c_str());
    for (size_t i = 0; i < a.sources.size(); ++i) {
      const auto& c = a.sources[i].chunk;
      const bool cited = std::find(a.cited.begin(), a.cited.end(), static_cast<int64_t>(i + 1)) != a.cited.end();
      std::printf("  [%zu]%s %s [%lld-%lld]\n", i + 1, cited ? "*" : " ", c.source.c_str(), static_cast<long long>(c.begin),
                  static_cast<long long>(c.end));
    }
    if (!a.cited.empty()) std::printf("  (* cited in the answer)\n");
  });
}

}  // namespace

CORNERSTONE_COMMAND(add_ask, 56)
