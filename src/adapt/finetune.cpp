#include "cornerstone/adapt/finetune.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "cornerstone/adapt/lora.h"
#include "cornerstone/adapt/task_batches.h"
#include "cornerstone/adapt/task_data.h"
#include "cornerstone/adapt/task_objective.h"
#include "cornerstone/adapt/task_type.h"
#include "cornerstone/core/error.h"
#include "cornerstone/io/atomic_file.h"
#include "cornerstone/train/checkpoint.h"
#include "cornerstone/train/training_loop.h"

namespace cornerstone::adapt {

namespace fs = std::filesystem;

namespace {

// A resumed run must train as the interrupted one did: same data order, batches and schedule.
void check_resumable(const std::string& checkpoint, const nlohmann::json& now) {
  const std::string path = (fs::path(checkpoint) / "state.json").string();
  nlohmann::json saved;
  try {
    saved = nlohmann::json::parse(io::read_file(path)).value("config", nlohmann::json());
  } catch (const nlohmann::json::exception&) {
    throw FormatError(path + ": not valid JSON");
  }
  for (const auto& [key, value] : now.items())
    if (saved.contains(key) && saved[key] != value)
      throw ValueError("--resume: " + key + " is " + value.dump() + " but the interrupted run used " + saved[key].dump() +
                       " (" + path + "); resume with the same options");
}

// Moves the finished task folder into OUT beside metrics.jsonl: written whole beside, then its
// files renamed in with task.json last (a folder with task.json is a finished one), then the
// checkpoints removed.
void publish(const TaskModel& m, const std::string& out) {
  const fs::path staging = fs::path(out) / ".model";
  fs::remove_all(staging);
  m.save(staging.string());
  for (const auto& e : fs::directory_iterator(staging))
    if (e.path().filename() != "task.json") fs::rename(e.path(), fs::path(out) / e.path().filename());
  fs::rename(staging / "task.json", fs::path(out) / "task.json");
  fs::remove_all(staging);
  fs::remove_all(fs::path(out) / "checkpoints");
}

// Points LoRA dropout at the run's generator for the run's length.
struct LoraDropout {
  models::PretrainedModel& base;
  LoraDropout(models::PretrainedModel& b, Rng* rng) : base(b) { set_lora_dropout_rng(base, rng); }
  ~LoraDropout() { set_lora_dropout_rng(base, nullptr); }
};

}  // namespace

nlohmann::json FinetuneOptions::to_json() const {
  return {{"epochs", epochs},           {"steps", steps},           {"batch_size", batch_size}, {"accumulation", accumulation}, {"lr", lr},
          {"weight_decay", weight_decay}, {"warmup_fraction", warmup_fraction}, {"grad_clip", grad_clip}, {"seed", seed}};
}

std::optional<std::string> finetune_checkpoint(const std::string& out) { return train::latest_checkpoint(out); }

bool clear_unstarted_finetune(const std::string& out) {
  std::error_code ec;
  if (!fs::is_directory(out, ec) || fs::is_empty(out, ec) || finetune_checkpoint(out)) return false;
  std::vector<fs::path> ours;
  for (const auto& e : fs::directory_iterator(out)) {
    const std::string n = e.path().filename().string();
    if (n != "metrics.jsonl" && n != "checkpoints" && n[0] != '.') return false;
    ours.push_back(e.path());
  }
  if (fs::is_directory(fs::path(out) / "checkpoints", ec))
    for (const auto& e : fs::directory_iterator(fs::path(out) / "checkpoints"))
      if (e.path().filename().string()[0] != '.') return false;  // not only temporaries: not ours to remove
  for (const auto& p : ours) fs::remove_all(p);
  return true;
}

TaskReport evaluate_file(const TaskModel& m, const std::string& path, int64_t batch_size) {
  return task_type(m.spec().task).evaluate_file(m, path, batch_size);
}

FinetuneResult finetune(TaskModel& m, const std::string& train_path, const std::string& val_path, const FinetuneOptions& o) {
  if (o.epochs <= 0 || o.batch_size <= 0 || o.accumulation <= 0)
    throw ValueError("finetune: epochs, batch size and accumulation must be positive");
  if (o.out.empty()) throw ValueError("finetune: no output folder");
  const Task task = m.spec().task;
  SftData sft_stats;
  const TaskType& type = task_type(task);
  std::vector<Encoded> data = task == Task::SFT ? encode_sft(m, train_path, m.spec().packing, &sft_stats) : type.read(m, train_path, true);
  if (task == Task::SFT && !o.quiet) {
    std::fprintf(stderr, "sft: %lld examples in %zu rows of at most %lld tokens (%s), %lld response tokens", static_cast<long long>(sft_stats.examples),
                 data.size(), static_cast<long long>(m.spec().max_length), m.spec().packing ? "packed" : "one per row",
                 static_cast<long long>(sft_stats.response_tokens));
    if (sft_stats.truncated) std::fprintf(stderr, "; %lld cut at --max-length", static_cast<long long>(sft_stats.truncated));
    if (sft_stats.skipped) std::fprintf(stderr, "; %lld skipped (prompt fills --max-length)", static_cast<long long>(sft_stats.skipped));
    std::fprintf(stderr, "\n");
  }
  // What the task computes once before training (dpo: the reference log-probabilities, from the
  // base, not from a resumed run's checkpoint). A task that cannot restart it says so.
  if (o.resume && !type.resumable())
    throw ValueError("--resume: a " + task_name(task) + " run cannot be resumed yet (it computes its reference from the starting "
                     "model, which the checkpoint no longer is); start it again");
  type.prepare(m, data, o.batch_size);
  // Under mpirun: this process's share of every batch, the gradient all-reduce, one writer.
  const std::unique_ptr<train::GradientSync> sync = train::make_gradient_sync(nullptr, o.bucket_mb);
  // A task that keeps state between steps (ppo's rollout) would need every process's state in the
  // checkpoint, which only one process writes.
  if (sync && sync->shard().world > 1 && type.updates_per_batch(m) > 1)
    throw UnsupportedError(task_name(task) + " under mpirun is not built yet (each process's rollout would have to be checkpointed); run it "
                           "as one process with --threads");
  TaskObjective objective(m, std::move(data), val_path, {o.batch_size, o.accumulation, o.seed, sync ? sync->shard() : train::Shard{}});
  if (o.resume) {
    const auto ckpt = finetune_checkpoint(o.out);
    if (!ckpt) throw ValueError("--resume: '" + o.out + "' has no checkpoint to resume from");
    check_resumable(*ckpt, o.to_json());
    type.load_state(m, *ckpt);  // what the task keeps between steps (ppo: the rollout in use)
  }

  const bool full = m.spec().mode == AdaptMode::Full;
  const float lr = o.lr > 0 ? o.lr : (full ? 1e-4f : 1e-3f);
  const int64_t per_epoch = objective.steps_per_epoch();
  const int64_t total = o.steps > 0 ? o.steps : per_epoch * o.epochs;  // --steps: as many epochs as they take
  train::LoopConfig lc;
  lc.label = "finetune";
  lc.run_dir = o.out;
  lc.total_steps = total;
  lc.accumulation = o.accumulation;
  lc.adamw = train::AdamWConfig{lr, 0.9f, 0.999f, 1e-8f, o.weight_decay};
  lc.min_lr = lr * 0.1f;
  lc.warmup_fraction = o.warmup_fraction;  // of the schedule's length: max(1, fraction x total) steps
  lc.grad_clip = o.grad_clip;
  lc.eval_every = per_epoch;        // validation after every epoch
  lc.checkpoint_every = per_epoch;  // and a checkpoint
  lc.keep_checkpoints = 1;
  lc.precision = o.precision;
  lc.time_limit_s = o.time_limit_s;
  lc.resume = o.resume;
  lc.quiet = o.quiet;
  lc.zero = o.zero;
  lc.config = o.to_json();

  m.base().set_checkpoint_activations(o.checkpoint_activations);
  Rng dropout(o.seed ^ 0xd0ull);
  LoraDropout lora_dropout(m.base(), &dropout);
  train::TrainingLoop loop(std::move(lc), train::LoopParts{objective, m.module(), m.module().trainable_parameters(),
                                                           [&m, &type](const std::string& dir) {
                                                             m.save(dir, [&](const std::string& tmp) { type.save_state(m, tmp); });
                                                           },
                                                           {},  // a resumed model was loaded from its checkpoint
                                                           dropout, {}, sync.get()});
  const train::TrainResult t = loop.run();

  FinetuneResult r;
  r.steps = t.steps;
  r.interrupted = t.interrupted;
  r.checkpoint = t.checkpoint;
  r.trainable_parameters = m.module().num_trainable_parameters();
  r.total_parameters = m.module().num_parameters();
  r.seconds = t.seconds;
  r.train_loss = t.mean_train_loss;
  r.val = objective.val_report();
  if (!t.interrupted && (!sync || sync->writer())) publish(m, o.out);
  return r;
}

}  // namespace cornerstone::adapt
