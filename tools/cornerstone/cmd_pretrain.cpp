// `cornerstone pretrain`: self-supervised pretraining: next-token prediction for a decoder,
// masked language modelling for an encoder (train/objective.h).
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include "command.h"
#include "cornerstone/adapt/lora.h"
#include "cornerstone/dist/process_group.h"
#include "cornerstone/core/error.h"
#include "cornerstone/train/time_budget.h"
#include "cornerstone/train/trainer.h"

namespace {

void add_pretrain(CLI::App& app) {
  auto* cmd = app.add_subcommand("pretrain", "Pretrain a model on prepared token shards (decoders: next token; encoders: masked LM) or labelled images (vit, bit: classification)");
  static std::string config, data, out, time_limit, precision, init;
  static int64_t steps = 0, batch = 0, context = 0, zero = 0, tensor_parallel = 1;
  static bool resume = false, checkpoint_activations = false, freeze_backbone = false;
  cmd->add_option("--config", config, "A preset (gpt2-tiny, char, gpt2-small, llama-tiny, bert-mini, bert-base, vit-tiny, resnetv2-18, ...) or a JSON file")->required();
  cmd->add_option("--data", data, "Folder written by `cornerstone prepare`, or labelled images for vit / bit: an IDX folder "
                  "(/usr/share/datasets/fashion-mnist), <split>/<class>/ folders, or <split>.jsonl files")->required();
  cmd->add_option("--out", out, "Run folder: checkpoints, metrics.jsonl, the model")->required();
  auto* s = cmd->add_option("--steps", steps, "Optimizer steps (default: the config's)")->check(CLI::PositiveNumber);
  cmd->add_option("--time", time_limit, "Train for this long instead (e.g. 5m); the schedule is sized to fit")->excludes(s);
  cmd->add_flag("--resume", resume, "Continue the run in --out from its latest checkpoint");
  cmd->add_option("--init", init, "Start from this model's weights (a run folder) instead of fresh ones: continued or "
                  "domain-adaptive pretraining on new data, with a new optimizer and schedule; the config must describe the same architecture "
                  "(an image classifier may have other labels: transfer with a new head)");
  cmd->add_option("--batch", batch, "Sequences per micro-batch (overrides the config)")->check(CLI::PositiveNumber);
  cmd->add_option("--context", context, "Tokens per sequence (overrides the config)")->check(CLI::PositiveNumber);
  cmd->add_option("--precision", precision, "f32 or bf16 (overrides the config)")->check(CLI::IsMember({"f32", "bf16"}));
  cmd->add_flag("--freeze-backbone", freeze_backbone, "Image classifiers: train only the classification head (a linear probe; "
                "with --init, on the backbone of a model trained on other labels)");
  cmd->add_flag("--checkpoint-activations", checkpoint_activations, "Recompute block activations in the backward pass");
  cmd->add_option("--zero", zero, "Under mpirun, ZeRO sharding (docs/distributed.md): 1 partitions the AdamW moments over the ranks, 2 the gradients too")
      ->check(CLI::IsMember({0, 1, 2}));
  static double bucket_mb = 32;
  cmd->add_option("--bucket-mb", bucket_mb, "Under mpirun: the size of the gradient buckets, each reduced while the backward pass goes on")
      ->capture_default_str();
  cmd->add_option("--tensor-parallel", tensor_parallel, "Under mpirun -np N, decoders: split every block's attention heads and MLP columns "
                  "over K processes (Megatron-LM style); N / K replicas train data parallel (docs/distributed.md)")
      ->check(CLI::PositiveNumber)->capture_default_str();
  static int64_t lora_rank = 0;
  static float lora_alpha = 0;
  static std::vector<std::string> lora_targets;
  cmd->add_option("--lora-rank", lora_rank, "Image classifiers, with --init: train LoRA adapters of this rank on the backbone's linear "
                  "layers, and the (new) head, instead of every weight; the finished run folder holds the folded model")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--lora-alpha", lora_alpha, "LoRA scale numerator (default: 2 x rank)");
  cmd->add_option("--lora-targets", lora_targets, "Modules to adapt: qkv, proj, fc, attn, mlp, all-linear (default: attn)");
  cmd->callback([] {
    using namespace cornerstone;
    train::PretrainConfig cfg = train::PretrainConfig::load(config);
    if (batch > 0) cfg.training.batch_size = batch;
    if (context > 0) {
      if (context > cfg.model_context())
        throw ValueError("--context " + std::to_string(context) + " exceeds the model's context of " +
                         std::to_string(cfg.model_context()));
      cfg.training.context = context;
    }
    if (!precision.empty()) cfg.training.precision = precision;
    if (checkpoint_activations) cfg.training.checkpoint_activations = true;
    train::RunOptions o;
    o.data_dir = data, o.run_dir = out, o.steps = steps, o.resume = resume, o.init_from = init, o.zero = zero;
    o.tensor_parallel = tensor_parallel, o.bucket_mb = bucket_mb;
    o.freeze_backbone = freeze_backbone;
    if (lora_rank > 0) {
      if (init.empty() && !resume) throw ValueError("--lora-rank adapts a pretrained model: give it with --init");
      adapt::LoRAConfig lc;
      lc.rank = lora_rank;
      lc.alpha = lora_alpha > 0 ? lora_alpha : 2.0f * static_cast<float>(lora_rank);
      if (!lora_targets.empty()) lc.targets = lora_targets;
      lc.validate();
      const uint64_t seed = cfg.training.seed;
      train::ModelAdaptation a;
      a.attach = [lc, seed](models::PretrainedModel& m, const std::optional<std::string>& checkpoint) {
        const auto* images = m.as<models::ImageClassifier>();
        if (!images)
          throw ValueError("pretrain --lora-rank adapts image classifiers; a " + m.model_type() +
                           " model is fine-tuned with adapters by `finetune --lora-rank`");
        if (checkpoint)
          adapt::load_peft(m, *checkpoint);  // the adapters as the interrupted run left them
        else
          adapt::apply_lora(m, lc, seed ^ 0x10a4ull);
        for (const std::string& name : images->head_parameters()) m.parameter(name).requires_grad_(true);  // the head trains too
        return m.trainable_parameters();
      };
      a.save = [lc, base = init](const models::PretrainedModel& m, const std::string& dir) { adapt::save_peft(m, lc, dir, base, "IMAGE_CLASSIFICATION"); };
      a.finish = [](models::PretrainedModel& m) { adapt::bake_lora(m); };
      a.describe = {{"lora", {{"rank", lc.rank}, {"alpha", lc.alpha}, {"targets", lc.targets}}}};
      o.adaptation = std::move(a);
    }
    if (!time_limit.empty()) o.time_limit_s = train::parse_duration(time_limit);
    train::install_interrupt_handler();
    const train::TrainResult r = train::Trainer(cfg, o).run();
    if (dist::ProcessGroup::world().rank() != 0) {  // under mpirun: rank 0 reports for the job
      if (r.interrupted) std::exit(130);
      return;
    }
    if (r.interrupted) {
      std::fprintf(stderr, "interrupted at step %lld; checkpoint saved in %s\nresume with: cornerstone pretrain --config %s --data %s --out %s --resume\n",
                   static_cast<long long>(r.steps), r.checkpoint.c_str(), config.c_str(), data.c_str(), out.c_str());
      std::exit(130);
    }
    std::printf("steps %lld | train loss %.4f | val loss %.4f | %.0f %s/s | model in %s\n", static_cast<long long>(r.steps),
                r.train_loss, r.val_loss, r.inputs_per_s, r.input_unit.c_str(), out.c_str());
  });
}

}  // namespace

CORNERSTONE_COMMAND(add_pretrain, 30)
