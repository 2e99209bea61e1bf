// `cornerstone finetune` / `evaluate` / `lora merge`: adapting a pretrained model (decoder or
// encoder) to a task.
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "command.h"
#include "cornerstone/dist/process_group.h"
#include "cornerstone/adapt/finetune.h"
#include "cornerstone/adapt/task_data.h"
#include "cornerstone/adapt/task_model.h"
#include "cornerstone/core/error.h"
#include "cornerstone/tokenize/chat_template.h"
#include "cornerstone/cornerstone.h"
#include "cornerstone/io/atomic_file.h"
#include "cornerstone/io/staged_folder.h"
#include "cornerstone/models/load.h"
#include "cornerstone/train/time_budget.h"
#include "cornerstone/train/training_loop.h"

namespace {

double peak_rss_mb() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0;
}

void add_finetune(CLI::App& app) {
  using namespace cornerstone;
  auto* cmd = app.add_subcommand("finetune", "Adapt a pretrained model: classify, tag, contrastive embeddings, sft instruction tuning, "
                                 "reward models, dpo, grpo, ppo (full, frozen base + head, or LoRA)");
  static std::string model, task, train_path, val_path, labels_path, out, base_precision = "f32", pooling, chat_template, time_limit;
  static float temperature = 0.05f;
  static bool from_scratch = false, packing = false;
  static adapt::FinetuneOptions o;
  static int64_t lora_rank = 0, max_length = 0;
  static float lora_alpha = 0, lora_dropout = 0;
  static std::vector<std::string> lora_targets;
  static bool freeze_base = false, resume = false;
  cmd->add_option("--model", model, "The pretrained model: a folder (a pretraining run, a Hugging Face folder) or a GGUF file")->required();
  cmd->add_option("--task", task, "classify | tag | contrastive | sft | rerank (a cross-encoder: a classifier of (query, passage) "
                  "pairs made from {\"query\", \"positive\", \"negative\"} lines, for `search --rerank`) | reward (a scalar "
                  "head trained on {\"prompt\", \"chosen\", \"rejected\"} pairs, Bradley-Terry) | dpo (direct preference "
                  "optimisation of a decoder on the same pairs) | grpo (reinforcement learning of a decoder from a verifiable reward on "
                  "{\"prompt\", \"answer\"} lines) | ppo (the same problems, PPO with a value head and GAE)")
      ->required()
      ->check(CLI::IsMember({"classify", "tag", "contrastive", "sft", "rerank", "reward", "dpo", "grpo", "ppo"}));
  static adapt::GrpoOptions grpo;
  cmd->add_option("--group", grpo.group, "grpo, ppo: completions sampled per prompt")->capture_default_str();
  cmd->add_option("--kl", grpo.kl, "grpo, ppo: KL penalty to the reference (the starting model); ppo: per token")->capture_default_str();
  cmd->add_option("--max-new-tokens", grpo.max_new_tokens, "grpo, ppo: tokens per sampled completion")->capture_default_str();
  cmd->add_option("--sample-temperature", grpo.temperature, "grpo, ppo: sampling temperature of the completions")->capture_default_str();
  cmd->add_option("--reward", grpo.reward,
                  "grpo, ppo: the verifiable reward: exact-match (the answer after --marker equals \"answer\") or regex (it matches "
                  "\"answer\" read as a PCRE2 pattern, in full)")
      ->check(CLI::IsMember(adapt::verifiable_reward_names()))
      ->capture_default_str();
  cmd->add_option("--reward-model", grpo.reward_model,
                  "grpo, ppo: a `finetune --task reward` folder whose score of (prompt, completion) is the training reward instead of "
                  "--reward (validation still scores the answers with --reward)");
  cmd->add_flag("--skip-equal-groups", grpo.skip_equal_groups,
                "grpo: leave groups whose completions all earn the same reward out of the training pass (DAPO's dynamic "
                "sampling without the refill): each step trains on the informative groups only, and costs less");
  cmd->add_option("--marker", grpo.marker, "grpo, ppo: the answer follows this marker's last occurrence")->capture_default_str();
  static adapt::PpoOptions ppo;
  cmd->add_option("--ppo-epochs", ppo.epochs, "ppo: optimizer steps on each rollout (each counts as a step)")->capture_default_str();
  cmd->add_option("--cliprange", ppo.clip, "ppo: the policy ratio's clip range")->capture_default_str();
  cmd->add_option("--cliprange-value", ppo.clip_value, "ppo: the value's clip range around the rollout's")->capture_default_str();
  cmd->add_option("--vf-coef", ppo.vf_coef, "ppo: weight of the value loss")->capture_default_str();
  cmd->add_option("--gamma", ppo.gamma, "ppo: discount of later rewards")->capture_default_str();
  cmd->add_option("--lam", ppo.lambda, "ppo: GAE's lambda")->capture_default_str();
  static float beta = 0.1f;
  static std::string dpo_loss = "sigmoid";
  cmd->add_option("--beta", beta, "dpo: how strongly the policy is held to the reference (the implicit reward's scale)")->capture_default_str();
  cmd->add_option("--loss", dpo_loss, "dpo: sigmoid (the DPO paper's) or ipo")->check(CLI::IsMember({"sigmoid", "ipo"}))->capture_default_str();
  static float rpo_alpha = 0;
  cmd->add_option("--rpo-alpha", rpo_alpha, "dpo: add this times the chosen responses' NLL to the loss (RPO; 1 in the paper; 0: plain DPO)")
      ->capture_default_str();
  cmd->add_option("--train", train_path, "Training JSONL")->required();
  cmd->add_option("--val", val_path, "Validation JSONL (metrics after every epoch)");
  cmd->add_option("--out", out, "Output folder")->required();
  cmd->add_option("--labels", labels_path, "classify / tag: the head's label set, one per line (default: the labels that occur in "
                  "--train). Fixes the label set across training-set sizes: validation and test examples may carry labels the "
                  "training examples lack")->check(CLI::ExistingFile);
  cmd->add_option("--lora-rank", lora_rank, "Train LoRA adapters of this rank instead of the whole model");
  cmd->add_option("--lora-alpha", lora_alpha, "LoRA scale numerator (default: 2 x rank)");
  cmd->add_option("--lora-dropout", lora_dropout, "Dropout on the adapters' input")->capture_default_str();
  cmd->add_option("--lora-targets", lora_targets, "Modules to adapt: c_attn, q_proj, ..., attn, mlp, all-linear (default: attn)");
  cmd->add_option("--base-precision", base_precision, "Frozen base storage under LoRA: f32, bf16 or q8_0")
      ->check(CLI::IsMember({"f32", "bf16", "q8_0"}))->capture_default_str();
  cmd->add_flag("--freeze-base", freeze_base, "Train only the task head on a frozen base");
  cmd->add_flag("--from-scratch", from_scratch, "Fresh weights in the base's architecture instead of its pretrained ones (the no-pretraining baseline; with --freeze-base, a probe on frozen random weights)");
  cmd->add_option("--pooling", pooling, "classify: the head reads the model's sequence features (cls, the default: BERT's pooler "
                  "on [CLS], a decoder's last token) or the mean of the tokens' states (mean); contrastive: the sentence "
                  "embedding is the mean of the tokens' states (mean, the default) or [CLS]'s (cls)")
      ->check(CLI::IsMember({"mean", "cls"}));
  cmd->add_option("--temperature", temperature, "contrastive: InfoNCE temperature (logits are cosine / temperature)")->capture_default_str();
  cmd->add_option("--chat-template", chat_template, "sft: render examples with this template (chatml, plain; default: the model's)")
      ->check(CLI::IsMember(tokenize::chat_template_names()));
  cmd->add_flag("--packing", packing, "sft: pack short examples into rows of --max-length tokens (fewer, fuller rows; "
                "an example then sees the ones before it in its row, and sits at a later position than generation puts it)");
  cmd->add_option("--epochs", o.epochs)->capture_default_str();
  cmd->add_option("--steps", o.steps, "Train this many optimizer steps instead of all --epochs (the schedule sized to them)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--batch", o.batch_size)->capture_default_str();
  cmd->add_option("--lr", o.lr, "Peak learning rate (default: 1e-4 full, 1e-3 LoRA / frozen)");
  cmd->add_option("--max-length", max_length, "Tokens per example, longer texts are cut (default: the model's context, at most 256)");
  cmd->add_option("--seed", o.seed)->capture_default_str();
  cmd->add_option("--precision", o.precision, "f32 or bf16 GEMMs")->check(CLI::IsMember({"f32", "bf16"}))->capture_default_str();
  cmd->add_option("--accum", o.accumulation, "Gradient accumulation: micro-batches of --batch examples per optimizer step")
      ->check(CLI::Range(int64_t{1}, int64_t{65535}))->capture_default_str();
  cmd->add_option("--time", time_limit, "Train for this long (e.g. 10m) instead of all --epochs; the schedule is sized to fit");
  cmd->add_flag("--checkpoint-activations", o.checkpoint_activations, "Recompute the base's block activations in the backward pass (less memory)");
  cmd->add_option("--zero", o.zero, "Under mpirun, ZeRO sharding (docs/distributed.md): 1 partitions the AdamW moments over the ranks, 2 the gradients too")
      ->check(CLI::IsMember({0, 1, 2}))->capture_default_str();
  cmd->add_option("--bucket-mb", o.bucket_mb, "Under mpirun: the size of the gradient buckets, each reduced while the backward pass goes on")
      ->capture_default_str();
  cmd->add_flag("--resume", resume, "Continue the interrupted run in --out from its latest checkpoint (same options)");
  cmd->callback([] {
    namespace fs = std::filesystem;
    if (lora_rank > 0 && freeze_base) throw ValueError("--lora-rank and --freeze-base are alternatives; pick one");
    std::string folder = out;
    while (folder.size() > 1 && folder.back() == '/') folder.pop_back();
    if (!resume) adapt::clear_unstarted_finetune(folder);  // the remains of a run killed before its first checkpoint
    const bool finished = fs::exists(fs::path(folder) / "task.json");
    const auto checkpoint = adapt::finetune_checkpoint(folder);
    if (finished)
      throw ValueError("--out '" + out + "' holds a finished fine-tune (task.json); choose a new folder");
    if (resume && !checkpoint) throw ValueError("--resume: '" + out + "' has no checkpoint to resume from");
    if (!resume && checkpoint)
      throw ValueError("--out '" + out + "' holds an interrupted fine-tune; pass --resume to continue it or choose a new folder");
    if (!resume && fs::exists(folder) && !fs::is_empty(folder))
      throw ValueError("--out '" + out + "' exists and is not empty (choose a new folder)");
    o.out = folder;
    o.resume = resume;
    if (!time_limit.empty()) o.time_limit_s = train::parse_duration(time_limit);
    if (!time_limit.empty() && o.steps > 0) throw ValueError("--steps and --time are alternatives; pick one");
    // rerank: retrieval triples become (query, passage) pairs labelled relevant / irrelevant, and
    // the model is a classifier of them (task.json says classify; search --rerank reads it).
    struct TempData {
      std::string dir;
      ~TempData() {
        std::error_code ec;
        if (!dir.empty()) fs::remove_all(dir, ec);
      }
    } temp;
    if (task == "rerank") {
      temp.dir = (fs::temp_directory_path() / ("cornerstone-rerank-" + std::to_string(::getpid()))).string();
      fs::create_directories(temp.dir);
      adapt::write_rerank_pairs(train_path, temp.dir + "/train.jsonl");
      train_path = temp.dir + "/train.jsonl";
      if (!val_path.empty()) {
        adapt::write_rerank_pairs(val_path, temp.dir + "/val.jsonl");
        val_path = temp.dir + "/val.jsonl";
      }
    }
    adapt::TaskSpec spec;
    spec.task = adapt::task_from_name(task == "rerank" ? "classify" : task);
    spec.base = model;
    spec.max_length = max_length;
    if (spec.task == adapt::Task::Classify) spec.labels = adapt::label_set(adapt::read_classification(train_path));
    if (spec.task == adapt::Task::Tag) spec.labels = adapt::tag_set(adapt::read_tagging(train_path));
    if (!labels_path.empty()) {
      if (spec.task != adapt::Task::Classify && spec.task != adapt::Task::Tag) throw ValueError("--labels is for --task classify and tag");
      const std::vector<std::string> in_train = spec.labels;
      spec.labels = adapt::read_label_list(labels_path);
      for (const auto& l : in_train)
        if (!std::binary_search(spec.labels.begin(), spec.labels.end(), l))
          throw ValueError(train_path + ": label '" + l + "' is not in --labels " + labels_path);
    }
    if (!pooling.empty() && spec.task != adapt::Task::Classify && spec.task != adapt::Task::Contrastive && spec.task != adapt::Task::Reward)
      throw ValueError("--pooling is for --task classify, contrastive and reward");
    spec.beta = beta;
    spec.dpo_loss = dpo_loss;
    spec.rpo_alpha = rpo_alpha;
    if (grpo.skip_equal_groups && spec.task != adapt::Task::GRPO) throw ValueError("--skip-equal-groups is for --task grpo");
    spec.grpo = grpo;
    spec.ppo = ppo;
    spec.pooling = !pooling.empty() ? adapt::pooling_from_name(pooling) : adapt::default_pooling(spec.task);
    spec.temperature = temperature;
    spec.from_scratch = from_scratch;
    spec.chat_template = chat_template;
    spec.packing = packing;
    if (!adapt::task_info(spec.task).language_model && !chat_template.empty()) throw ValueError("--chat-template is for --task sft, dpo, grpo and ppo");
    if (spec.task != adapt::Task::SFT && packing) throw ValueError("--packing is for --task sft");
    spec.mode = lora_rank > 0 ? adapt::AdaptMode::LoRA : freeze_base ? adapt::AdaptMode::Frozen : adapt::AdaptMode::Full;
    if (lora_rank > 0) {
      spec.lora.rank = lora_rank;
      spec.lora.alpha = lora_alpha > 0 ? lora_alpha : 2.0f * static_cast<float>(lora_rank);
      spec.lora.dropout = lora_dropout;
      if (!lora_targets.empty()) spec.lora.targets = lora_targets;
      spec.lora.base_storage = dtype_from_name(base_precision);
    }
    // A resumed run's model is its checkpoint's (a task folder); the flags describing the model
    // are then the checkpoint's.
    adapt::TaskModel m = resume ? adapt::TaskModel::load(*checkpoint) : adapt::TaskModel::create(spec, o.seed);
    train::install_interrupt_handler();
    adapt::FinetuneResult r;
    try {
      r = adapt::finetune(m, train_path, val_path, o);
    } catch (...) {
      // A run that failed before its first checkpoint leaves nothing that blocks the next attempt
      // (the folder was new or empty); one with checkpoints keeps them for --resume.
      if (dist::ProcessGroup::world().rank() == 0 && !adapt::finetune_checkpoint(folder)) fs::remove_all(folder);
      throw;
    }
    if (dist::ProcessGroup::world().rank() != 0) {  // under mpirun: rank 0 reports and writes for the job
      if (r.interrupted) std::exit(130);
      return;
    }
    if (r.interrupted) {
      std::fprintf(stderr, "interrupted at step %lld; checkpoint saved in %s\nresume with the same command and --resume\n",
                   static_cast<long long>(r.steps), r.checkpoint.c_str());
      std::exit(130);
    }
    const nlohmann::json report = {{"trainable_parameters", r.trainable_parameters},
                                   {"total_parameters", r.total_parameters},
                                   {"trainable_percent", 100.0 * r.trainable_parameters / std::max<int64_t>(1, r.total_parameters)},
                                   {"seconds", r.seconds},
                                   {"steps", r.steps},
                                   {"peak_rss_mb", peak_rss_mb()},
                                   {"train_loss", r.train_loss},
                                   {"val", r.val.json}};
    io::write_file_atomic((std::filesystem::path(out) / "finetune.json").string(), report.dump(2) + "\n");
    std::printf("trainable %lld of %lld parameters (%.2f%%) | %lld steps in %.1f s | peak RSS %.0f MB\n",
                static_cast<long long>(r.trainable_parameters), static_cast<long long>(r.total_parameters),
                report["trainable_percent"].get<double>(), static_cast<long long>(r.steps), r.seconds, peak_rss_mb());
    if (!val_path.empty())
      std::printf("validation: %s", r.val.table.c_str());
    std::printf("model in %s\n", out.c_str());
  });
}

void add_lora(CLI::App& app) {
  using namespace cornerstone;
  auto* cmd = app.add_subcommand("lora", "LoRA adapter tools");
  auto* merge = cmd->add_subcommand("merge", "Fold a LoRA adapter into its base model's weights");
  static std::string model, adapter, out;
  merge->add_option("--model", model, "The base model (a folder or a GGUF file)")->required();
  merge->add_option("--adapter", adapter, "Folder with adapter_config.json + adapter_model.safetensors")->required();
  merge->add_option("--out", out, "Output model folder")->required();
  cmd->require_subcommand(1);
  merge->callback([] {
    namespace fs = std::filesystem;
    if (fs::exists(out) && !fs::is_empty(out)) throw ValueError("--out '" + out + "' exists and is not empty");
    if (fs::exists(fs::path(adapter) / "task.json")) {
      // A fine-tuned task model: merge its adapter, keep its head, as a full fine-tune would be saved.
      adapt::TaskModel m = adapt::TaskModel::load(adapter);
      m.merge_adapters();
      m.save(out);
    } else {
      // A PEFT adapter folder: load() folds it into the base (the GGUF or folder --model names).
      LoadOptions lo;
      lo.base = model;
      const Model merged = load(adapter, lo);
      io::StagedFolder dir(out);
      models::save_model(*merged.language_model("lora merge"), dir.path());
      if (merged.has_tokenizer()) merged.tokenizer().save((fs::path(dir.path()) / "tokenizer.json").string());
      dir.commit();
    }
    std::printf("merged model in %s\n", out.c_str());
  });
}

}  // namespace

CORNERSTONE_COMMAND(add_finetune, 50)
CORNERSTONE_COMMAND(add_lora, 52)
