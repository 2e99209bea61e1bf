// `cornerstone sample`: a model's own completions of {"prompt", "answer"} problems, graded by a
// verifiable reward, made into preference pairs (adapt/self_pairs.h) for `finetune --task dpo`
// or `--task reward`.
#include <cstdio>

#include "command.h"
#include "cornerstone/adapt/self_pairs.h"
#include "cornerstone/core/error.h"
#include "cornerstone/core/progress.h"
#include "cornerstone/cornerstone.h"
#include "cornerstone/io/atomic_file.h"
#include "cornerstone/tokenize/chat_template.h"

namespace {

void add_sample(CLI::App& app) {
  auto* cmd = app.add_subcommand("sample", "Sample completions of {\"prompt\", \"answer\"} problems from a causal LM, grade them by a "
                                           "verifiable reward, and write preference pairs (a right vs a wrong completion of one "
                                           "prompt) for `finetune --task dpo` or `--task reward`");
  static std::string model_path, data, out, graded_out;
  static cornerstone::adapt::SelfPairOptions o;
  static int64_t max_new_tokens = 128, limit = 0;
  static float temperature = 1.0f, top_p = 1.0f;
  cmd->add_option("--model", model_path, "A causal LM (an sft fine-tune answers in its chat template)")->required();
  cmd->add_option("--data", data, "JSONL problems {\"prompt\", \"answer\"} (`dataset arithmetic` writes {split}.answers.jsonl)")->required();
  cmd->add_option("--out", out, "The preference pairs, JSONL {\"prompt\", \"chosen\", \"rejected\"}")->required();
  cmd->add_option("--graded-out", graded_out, "Also write every completion with its reward, one JSON line per problem");
  cmd->add_option("--samples", o.samples, "Completions per problem")->capture_default_str();
  cmd->add_option("--pairs-per-prompt", o.pairs_per_prompt, "At most this many pairs per problem (distinct right x wrong combinations)")
      ->capture_default_str();
  cmd->add_option("--reward", o.reward, "exact-match (the text after the last marker equals \"answer\") or regex (it matches \"answer\" "
                                        "as a whole)")->capture_default_str();
  cmd->add_option("--marker", o.marker, "The answer follows the last occurrence of this text")->capture_default_str();
  cmd->add_option("--temperature", temperature, "Sampling temperature (> 0: the pairs need varied completions)")->capture_default_str();
  cmd->add_option("--top-p", top_p, "Nucleus sampling mass (1 = off)")->capture_default_str();
  cmd->add_option("--max-new-tokens", max_new_tokens, "Tokens per completion")->capture_default_str();
  cmd->add_option("--limit", limit, "Only the first N problems (0: all)")->capture_default_str();
  cmd->add_option("--batch", o.batch, "Problems per batched generation (each batch x samples sequences)")->capture_default_str();
  cmd->add_option("--seed", o.seed, "Sampling and pair-drawing seed")->capture_default_str();
  cmd->callback([] {
    using namespace cornerstone;
    if (!(temperature > 0)) throw ValueError("--temperature must be positive: greedy completions of one prompt are all the same");
    if (max_new_tokens < 1) throw ValueError("--max-new-tokens must be positive");
    if (limit < 0) throw ValueError("--limit must be >= 0");
    o.validate();
    std::vector<adapt::AnswerExample> problems = adapt::read_answers(data);
    if (limit > 0 && static_cast<size_t>(limit) < problems.size()) problems.resize(static_cast<size_t>(limit));
    const Model model = load(model_path);
    if (!model.can(Capability::CausalLM)) throw ValueError("'" + model_path + "' is a " + model.describe() + "; sample needs a language model");

    // An instruction-tuned model reads the prompt as a user turn and ends at its end of turn, as
    // `finetune --task dpo` will render the pairs; another model continues the prompt as written.
    infer::GenerateOptions go;
    go.max_tokens = max_new_tokens;
    go.sampling.temperature = temperature;
    go.sampling.top_p = top_p;
    const bool chat = model.instruction_tuned();
    const tokenize::ChatTemplate t = model.chat_template();
    if (chat) {
      go.stop = t.stop_strings;
      go.stop_tokens = t.stop_token_ids(model.tokenizer());
    }
    Progress bar("sample", static_cast<int64_t>(problems.size()), "problems");
    const auto graded = adapt::sample_and_grade(
        problems,
        [&](const std::vector<std::string>& prompts, uint64_t seed) {
          std::vector<std::string> rendered;
          for (const auto& p : prompts) rendered.push_back(chat ? tokenize::render_chat({{"user", p}}, t, true) : p);
          infer::GenerateOptions call = go;
          call.seed = seed;
          std::vector<std::string> texts;
          for (auto& g : model.generate(rendered, call)) texts.push_back(std::move(g.text));
          return texts;
        },
        o, [&](int64_t done) { bar.update(done); });
    adapt::SelfPairSummary s;
    const auto pairs = adapt::self_preference_pairs(graded, o, &s);
    char status[160];
    std::snprintf(status, sizeof status, "mean reward %.3f | pass@%lld %.3f", s.mean_reward, static_cast<long long>(o.samples), s.pass_at_k);
    bar.finish(status);
    if (pairs.empty())
      throw ValueError("no pairs: no problem got both a right and a wrong completion (mean reward " + std::to_string(s.mean_reward) +
                       "); try more --samples or a higher --temperature");
    io::write_file_atomic(out, adapt::preference_pairs_jsonl(pairs));
    if (!graded_out.empty()) io::write_file_atomic(graded_out, adapt::graded_problems_jsonl(graded));
    std::printf("%lld problems x %lld samples: mean reward %.3f, pass@%lld %.3f; %lld problems with right and wrong completions -> "
                "%lld pairs in %s\n",
                static_cast<long long>(s.problems), static_cast<long long>(o.samples), s.mean_reward, static_cast<long long>(o.samples),
                s.pass_at_k, static_cast<long long>(s.mixed_problems), static_cast<long long>(s.pairs), out.c_str());
  });
}

}  // namespace

CORNERSTONE_COMMAND(add_sample, 62)
