// `cornerstone generate`: text from a trained model (f32 or quantized), streamed as it is sampled.
#include <cstdio>
#include <sstream>

#include <filesystem>
#include <optional>

#include "command.h"
#include "cornerstone/core/error.h"
#include "cornerstone/cornerstone.h"
#include "cornerstone/core/profiler.h"
#include "cornerstone/tokenize/chat_template.h"
#include "cornerstone/infer/generator.h"
#include "cornerstone/io/atomic_file.h"
#include "cornerstone/tokenize/tokenizer.h"

namespace {

void add_generate(CLI::App& app) {
  auto* cmd = app.add_subcommand("generate", "Generate text from a language model (run, Hugging Face, quantized or fine-tuned folder, or a GGUF file)");
  static std::string model_path, prompt, prompt_file, batch_file, chat_file, tokenizer_path;
  static std::vector<std::string> stop;
  static cornerstone::infer::GenerateOptions o;
  static bool greedy = false, show_stats = false;
  cmd->add_option("--model", model_path, "Model folder (config.json + model.safetensors + tokenizer.json), quantized or sft folder, or FILE.gguf")->required();
  auto* p = cmd->add_option("--prompt", prompt, "The prompt text");
  auto* pf = cmd->add_option("--prompt-file", prompt_file, "Read the prompt from a file (few-shot prompts)")->excludes(p);
  auto* bf = cmd->add_option("--batch-file", batch_file, "One prompt per line, generated together")->excludes(p)->excludes(pf);
  cmd->add_option("--chat", chat_file,
                  "A conversation to answer: JSON {\"messages\": [{\"role\": \"system\"|\"user\"|\"assistant\", \"content\": ...}]}"
                  " or JSONL messages, rendered with the model's chat template")
      ->excludes(p)
      ->excludes(pf)
      ->excludes(bf);
  cmd->add_option("--tokenizer", tokenizer_path, "Tokenizer (default: the model folder's tokenizer.json)");
  cmd->add_option("--max-tokens", o.max_tokens, "Tokens to generate per prompt")->capture_default_str();
  cmd->add_option("--temperature", o.sampling.temperature, "Sampling temperature (0 = greedy)")->capture_default_str();
  cmd->add_option("--top-k", o.sampling.top_k, "Keep the k most likely tokens (0 = off)")->capture_default_str();
  cmd->add_option("--top-p", o.sampling.top_p, "Nucleus sampling mass (1 = off)")->capture_default_str();
  cmd->add_option("--min-p", o.sampling.min_p, "Drop tokens below min_p x the top probability (0 = off)")->capture_default_str();
  cmd->add_option("--repetition-penalty", o.sampling.repetition_penalty, "Penalise tokens already seen (1 = off)")
      ->capture_default_str();
  cmd->add_option("--presence-penalty", o.sampling.presence_penalty, "Subtract from logits of seen tokens (0 = off)")
      ->capture_default_str();
  cmd->add_option("--seed", o.seed, "Random seed")->capture_default_str();
  cmd->add_option("--stop", stop, "Stop when this text is generated (repeatable)");
  cmd->add_flag("--greedy", greedy, "Always take the most likely token");
  cmd->add_flag("--stats", show_stats, "Print the weight format, prompt and generation speed to stderr");
  cmd->callback([] {
    using namespace cornerstone;
    LoadOptions lo;
    lo.tokenizer = tokenizer_path;
    // Any model load() opens: a run or Hugging Face folder, a quantized folder, a GGUF file, a
    // fine-tuned sft folder (LoRA adapters merged in memory) or a PEFT adapter over its base.
    const Model model = load(model_path, lo);
    if (!model.can(Capability::CausalLM))
      throw ValueError("'" + model_path + "' is a " + model.describe() + "; generate runs language models (pretrained, or tuned with --task sft, dpo or grpo)");
    const tokenize::Tokenizer& tok = model.tokenizer();
    o.sampling.greedy = greedy;
    o.stop = stop;
    std::vector<std::string> prompts;
    bool echo_prompt = true;
    if (!batch_file.empty()) {
      std::istringstream in(io::read_file(batch_file));
      for (std::string line; std::getline(in, line);)
        if (!line.empty()) prompts.push_back(line);
      if (prompts.empty()) throw ValueError("--batch-file '" + batch_file + "' has no prompts");
    } else if (!chat_file.empty()) {
      const tokenize::ChatTemplate t = model.chat_template();
      prompts.push_back(tokenize::render_chat(tokenize::parse_chat(io::read_file(chat_file), chat_file), t, true));
      o.stop.insert(o.stop.end(), t.stop_strings.begin(), t.stop_strings.end());
      o.stop_tokens = t.stop_token_ids(tok);
      echo_prompt = false;  // print the assistant's reply only
    } else if (!prompt_file.empty()) {
      prompts.push_back(io::read_file(prompt_file));
    } else if (!prompt.empty()) {
      prompts.push_back(prompt);
    } else {
      throw ValueError("give a prompt: --prompt TEXT, --prompt-file FILE, --batch-file FILE or --chat FILE");
    }
    infer::GenerateStats st;
    const bool batch = prompts.size() > 1;
    if (!batch && echo_prompt) std::fputs(prompts[0].c_str(), stdout);
    const auto out = model.generate(prompts, o, [&](size_t, std::string_view piece) {
      if (!batch) {
        std::fwrite(piece.data(), 1, piece.size(), stdout);
        std::fflush(stdout);
      }
    }, &st);
    if (batch)
      for (size_t i = 0; i < out.size(); ++i) std::printf("[%zu] %s%s\n", i, prompts[i].c_str(), out[i].text.c_str());
    else
      std::fputc('\n', stdout);
    if (profiler::enabled()) profiler::report(stderr);
    if (show_stats)
      std::fprintf(stderr,
                   "weights %s | prompt tokens %lld | prompt %.1f tokens/s | generated tokens %lld | generation %.1f tokens/s\n",
                   model.weight_format().c_str(),
                   static_cast<long long>(st.prompt_tokens), st.prompt_tokens / std::max(st.prompt_seconds, 1e-9),
                   static_cast<long long>(st.generated_tokens), st.decoded_tokens / std::max(st.generate_seconds, 1e-9));
  });
}

}  // namespace

CORNERSTONE_COMMAND(add_generate, 40)
