#include "cornerstone/train/trainer.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <optional>

#include "cornerstone/core/cpu.h"
#include "cornerstone/core/error.h"
#include "cornerstone/core/parallel.h"
#include "cornerstone/data/token_shards.h"
#include "cornerstone/dist/process_group.h"
#include "cornerstone/io/atomic_file.h"
#include "cornerstone/kernels/peak.h"
#include "cornerstone/models/load.h"
#include "cornerstone/train/checkpoint.h"
#include "cornerstone/train/metrics_log.h"
#include "cornerstone/train/objective.h"
#include "cornerstone/train/tensor_parallel.h"

namespace cornerstone::train {

namespace fs = std::filesystem;

namespace {

// The run folder's tokenizer.json (the data's) and training.json, written by the one writer process.
void write_run_files(const fs::path& run, const std::string& data_dir, const nlohmann::json& training_json) {
  const fs::path data_tok = fs::path(data_dir) / "tokenizer.json";
  // Atomically: a copy torn by a crash would be kept (and linked into every checkpoint) by the rerun.
  if (fs::exists(data_tok) && !fs::exists(run / "tokenizer.json"))
    io::write_file_atomic((run / "tokenizer.json").string(), io::read_file(data_tok.string()));
  io::write_file_atomic((run / "training.json").string(), training_json.dump(2) + "\n");
}

}  // namespace

Trainer::Trainer(PretrainConfig config, RunOptions options) : cfg_(std::move(config)), opt_(std::move(options)) {}

TrainResult Trainer::run() {
  TrainingConfig& tc = cfg_.training;
  if (tc.precision == "bf16" && !cpu::features().avx512_bf16)
    throw UnsupportedError("--precision bf16 needs a CPU with AVX512-BF16 (this one has none); use f32");
  if (opt_.steps > 0) tc.steps = opt_.steps;
  // An image objective's "token" is an image (the loop's throughput and MFU are then per image).
  const ObjectiveType& type = objective_type(cfg_.objective, "objective");
  const int64_t T = type.token_data ? cfg_.sequence_length() : 1;
  const int64_t B = tc.batch_size;
  const int64_t micro_tokens = B * T;
  const int64_t accum = tc.tokens_per_step > 0 ? std::max<int64_t>(1, tc.tokens_per_step / micro_tokens) : 1;

  // ---- data ----
  // Token shards for the objectives that read them; an image objective opens its own data.
  std::optional<data::TokenDataset> train, val;
  if (type.token_data) {
    train = data::TokenDataset::open(opt_.data_dir, "train");
    try {
      val = data::TokenDataset::open(opt_.data_dir, "val");
    } catch (const ValueError&) {
      // no validation split: validation losses are skipped
    }
  }
  // The model fresh from the seed, and the objective its family pretrains by (or the config's):
  // causal LM for decoders, masked LM for encoders, image classification for image models.
  const std::unique_ptr<models::PretrainedModel> model_ptr = cfg_.model->create(tc.seed);
  models::PretrainedModel& model = *model_ptr;
  // Tensor parallel: groups of K processes share each replica of the model (and its batch rows).
  std::unique_ptr<TensorParallel> tp;
  if (opt_.tensor_parallel > 1) {
    if (!dist::ProcessGroup::world().distributed()) throw ValueError("--tensor-parallel splits the model over the processes of an mpirun job");
    if (opt_.zero != 0) throw UnsupportedError("--tensor-parallel with --zero (ZeRO partitions over every process; not with tensor groups yet)");
    if (opt_.adaptation || opt_.freeze_backbone) throw UnsupportedError("--tensor-parallel trains every weight of a decoder (not LoRA or a linear probe)");
    tp = std::make_unique<TensorParallel>(opt_.tensor_parallel);
  }
  // Under mpirun: this process's share of every batch, and the gradient all-reduce (over the
  // processes holding the same shares, under tensor parallelism).
  const std::unique_ptr<GradientSync> sync = make_gradient_sync(tp ? &tp->data_group() : nullptr, opt_.bucket_mb);
  const Shard shard = sync ? sync->shard() : Shard{};
  const bool writer_process = sync ? sync->writer() : true;
  ObjectiveInputs inputs{model, cfg_, train ? &*train : nullptr, val ? &*val : nullptr, opt_.data_dir, shard};
  inputs.accumulation = accum;
  const std::unique_ptr<Objective> objective = make_objective(inputs);

  // ---- run folder ----
  const fs::path run(opt_.run_dir);
  const auto existing = latest_checkpoint(opt_.run_dir);
  if (!opt_.resume && existing)
    throw ValueError("run folder '" + opt_.run_dir + "' already has checkpoints; pass --resume to continue it or choose another --out");
  if (opt_.resume && !existing)
    throw ValueError("--resume: run folder '" + opt_.run_dir + "' has no checkpoint to resume from");
  // Continued (e.g. domain-adaptive) pretraining: another run's weights, a fresh optimizer and
  // schedule. A resumed run takes its weights from its own checkpoint instead.
  const bool quiet = opt_.quiet || !writer_process;
  if (!opt_.init_from.empty() && !opt_.resume)
    if (const std::string note = models::load_weights_into(model, opt_.init_from); !note.empty() && !quiet)
      std::fprintf(stderr, "%s\n", note.c_str());
  if (tp) {
    // The whole weights first (a resumed run's), then each process keeps its share.
    if (opt_.resume) load_checkpoint_weights(*existing, model);
    const int64_t whole = model.num_parameters();
    tp->shard(model);
    if (!quiet)
      std::fprintf(stderr, "tensor parallel: %lld replicas x %lld processes; each process holds %s of the model's %s parameters\n",
                   static_cast<long long>(dist::ProcessGroup::world().size() / tp->size()), static_cast<long long>(tp->size()),
                   human_count(static_cast<double>(model.num_parameters())).c_str(),
                   human_count(static_cast<double>(whole)).c_str());
  }
  // A linear probe: the head alone is trained; the backbone records no gradients.
  std::vector<std::pair<std::string, Tensor>> trained = model.named_parameters();
  if (opt_.freeze_backbone) {
    const auto* images = model.as<models::ImageClassifier>();
    if (!images) throw ValueError("--freeze-backbone trains an image classifier's head; a " + model.model_type() + " model has none");
    const std::vector<std::string> head = images->head_parameters();
    std::vector<std::pair<std::string, Tensor>> kept;
    for (auto& [name, p] : trained)
      if (std::find(head.begin(), head.end(), name) != head.end()) kept.emplace_back(name, p);
      else p.requires_grad_(false);
    trained = std::move(kept);
  }
  if (opt_.adaptation) {
    if (opt_.freeze_backbone)
      throw ValueError("--freeze-backbone and LoRA adapters do not combine (LoRA already freezes the backbone; the head trains with the adapters)");
    trained = opt_.adaptation->attach(model, opt_.resume ? existing : std::nullopt);
  }
  nlohmann::json training_json = cfg_.to_json();
  if (!opt_.init_from.empty()) training_json["init_from"] = opt_.init_from;
  if (opt_.freeze_backbone) training_json["freeze_backbone"] = true;
  if (opt_.adaptation) training_json["adaptation"] = opt_.adaptation->describe;
  if (writer_process) {
    fs::create_directories(run);
    write_run_files(run, opt_.data_dir, training_json);
  }
  model.set_checkpoint_activations(tc.checkpoint_activations);

  if (!quiet && shard.world > 1)  // the loop prints what each process holds
    std::fprintf(stderr, "data parallel: %lld %s x batch %lld = %lld rows per micro-batch%s\n", static_cast<long long>(shard.world),
                 tp ? "replicas" : "processes",
                 static_cast<long long>(B), static_cast<long long>(shard.world * B),
                 opt_.zero >= 1 ? (opt_.zero == 2 ? ", ZeRO-2" : ", ZeRO-1") : "");
  if (!quiet && !type.token_data)
    std::fprintf(stderr, "model: %s, %s parameters, %s | batch %lld %s x %lld accumulation | %d threads\n", model.model_type().c_str(),
                 human_count(static_cast<double>(model.num_parameters())).c_str(), objective->describe().c_str(), static_cast<long long>(B),
                 objective->input_unit().c_str(), static_cast<long long>(accum), num_threads());
  else if (!quiet)
    std::fprintf(stderr, "model: %s, %s parameters, %s | batch %lld x %lld tokens x %lld accumulation = %s tokens/step | %d threads\n",
                 model.model_type().c_str(), human_count(static_cast<double>(model.num_parameters())).c_str(),
                 objective->describe().c_str(),
                 static_cast<long long>(B), static_cast<long long>(T), static_cast<long long>(accum),
                 human_count(static_cast<double>(micro_tokens * accum)).c_str(), num_threads());
  if (!quiet && tc.precision == "bf16") {
    // Mixed precision pays only where bf16 products are faster than fp32 ones (Zen 4/5, AMX); a
    // CPU with half-rate bf16 dot products and no AMX (Xeons under some hypervisors) is slower.
    const double f32 = kernels::gemm_peak_gflops(false), b16 = kernels::gemm_peak_gflops(true);
    if (b16 < 1.15 * f32)
      std::fprintf(stderr, "note: bf16 GEMMs run at %.0f GFLOP/s on this CPU against %.0f for fp32: bf16 saves memory here but will not train faster\n",
                   b16, f32);
  }

  LoopConfig lc;
  lc.label = "pretrain";
  lc.run_dir = opt_.run_dir;
  lc.total_steps = tc.steps;
  lc.steps_override = opt_.resume ? opt_.steps : 0;
  lc.accumulation = accum;
  lc.adamw = AdamWConfig{tc.lr, tc.beta1, tc.beta2, tc.eps, tc.weight_decay};
  lc.min_lr = tc.min_lr;
  lc.warmup_steps = tc.warmup_steps;
  lc.grad_clip = tc.grad_clip;
  lc.eval_every = tc.eval_every;
  lc.eval_batches = tc.eval_batches;
  lc.checkpoint_every = tc.checkpoint_every;
  lc.keep_checkpoints = tc.keep_checkpoints;
  lc.precision = tc.precision;
  lc.time_limit_s = opt_.time_limit_s;
  lc.resume = opt_.resume;
  lc.quiet = opt_.quiet;
  lc.zero = opt_.zero;
  lc.config = cfg_.to_json();
  Rng dropout_rng(tc.seed ^ 0x5eedull);
  // An adapted model's checkpoints hold its own weights and the adaptation's tensors; the run folder
  // gets the folded model once the run ends (until then it has none: no checkpoint is the model).
  ModelWriter writer = pretrained_model_writer(model, opt_.run_dir);
  std::function<void(const std::string&)> after_checkpoint = [&](const std::string& ckpt) { point_run_at(opt_.run_dir, ckpt); };
  if (opt_.adaptation) {
    writer = [writer, &model, save = opt_.adaptation->save](const std::string& dir) {
      writer(dir);
      save(model, dir);
    };
    after_checkpoint = {};
  }
  // Tensor parallel: the whole weights were loaded before the split.
  std::function<void(const std::string&)> load_model = [&](const std::string& dir) { load_checkpoint_weights(dir, model); };
  if (tp) load_model = {};
  TrainingLoop loop(std::move(lc), LoopParts{*objective, model, trained, writer, load_model, dropout_rng, after_checkpoint, sync.get(), tp.get()});
  TrainResult result = loop.run();
  if (opt_.adaptation && !result.interrupted) {
    opt_.adaptation->finish(model);
    if (writer_process) models::save_model(model, opt_.run_dir);
  }
  return result;
}

}  // namespace cornerstone::train
