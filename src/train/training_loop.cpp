#include "cornerstone/train/training_loop.h"

#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <optional>
#include <thread>

#include "cornerstone/autograd/grad_mode.h"
#include "cornerstone/core/error.h"
#include "cornerstone/core/profiler.h"
#include "cornerstone/dist/process_group.h"
#include "cornerstone/kernels/peak.h"
#include "cornerstone/ops/precision.h"
#include "cornerstone/train/metrics_log.h"
#include "cornerstone/train/schedule.h"
#include "cornerstone/train/time_budget.h"
#include "cornerstone/train/train_step.h"

namespace cornerstone::train {

namespace fs = std::filesystem;

namespace {

std::atomic<bool> g_interrupt{false};

extern "C" void on_signal(int) { g_interrupt.store(true); }

double now_s() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

}  // namespace

void install_interrupt_handler() {
  static std::once_flag once;
  std::call_once(once, [] {
    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);
    // The signals are taken by one watcher thread instead of landing on whichever thread runs:
    // this thread and the compute threads it starts from here on (OpenMP's, oneDNN's) block them,
    // so a Ctrl-C never interrupts a kernel. Interrupted AVX-512 kernels were followed by rare
    // heap corruption on this project's VMs (about 1 run in 10 under mpirun, 1 in 20 alone; none
    // since the signals were moved here). Threads started earlier (MPI's) keep the handler above.
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    std::thread([set] {
      for (;;) {
        int sig = 0;
        if (sigwait(&set, &sig) == 0) g_interrupt.store(true);
      }
    }).detach();
  });
}

bool interrupt_requested() { return g_interrupt.load(); }

TrainingLoop::TrainingLoop(LoopConfig config, LoopParts parts) : cfg_(std::move(config)), parts_(std::move(parts)) {}

TrainResult TrainingLoop::run() {
  // bf16 mixed precision: bf16 GEMM operands, fp32 accumulation, fp32 master weights and state.
  ops::PrecisionGuard precision(cfg_.precision == "bf16" ? ops::Precision::BF16 : ops::Precision::F32);
  Objective& objective = parts_.objective;
  nn::Module& module = parts_.module;
  LocalGradientSync local_sync;
  GradientSync& sync = parts_.sync ? *parts_.sync : local_sync;
  // Several processes (mpirun): each trains on its share of every batch; process 0 alone writes
  // the metrics, the progress line and the checkpoints.
  const bool writer = sync.writer();
  const int64_t world = sync.shard().world;
  const bool quiet = cfg_.quiet || !writer;
  const fs::path run(cfg_.run_dir);
  if (writer) {
    fs::create_directories(run);
    remove_checkpoint_temporaries(cfg_.run_dir);  // a killed run's unfinished checkpoints
  }

  // ---- optimizer, state (a resumed run's from its latest checkpoint) ----
  AdamW optimizer(parts_.parameters, cfg_.adamw);
  if (cfg_.zero < 0 || cfg_.zero > 2) throw ValueError("--zero " + std::to_string(cfg_.zero) + ": the ZeRO stages are 0 (none), 1 and 2");
  if (cfg_.zero >= 1 && world > 1) optimizer.partition(sync.shard().rank, world);
  if (cfg_.zero == 2 && world > 1) sync.partition_gradients();
  if (world > 1 && !quiet) {
    // What each process holds (ZeRO's formulas, Rajbhandari et al. 2020): parameters 4P bytes,
    // gradients 4P or 4P / N (ZeRO-2), AdamW moments 8P or 8P / N (ZeRO-1 and 2).
    const double mb = 4.0 / 1048576.0, P = static_cast<double>(optimizer.num_elements());
    std::fprintf(stderr, "data parallel, per process: parameters %.1f MB, gradients %.1f MB (%s), AdamW state %.1f MB (%s)\n", P * mb,
                 (cfg_.zero == 2 ? P / static_cast<double>(world) : P) * mb, cfg_.zero == 2 ? "partitioned, ZeRO-2" : "whole",
                 static_cast<double>(optimizer.state_elements()) * mb,
                 optimizer.partitioned() ? (cfg_.zero == 2 ? "partitioned, ZeRO-2" : "partitioned, ZeRO-1") : "replicated");
  }
  std::vector<Tensor> params;
  for (const auto& [name, p] : parts_.parameters) params.push_back(p);
  Rng& dropout_rng = parts_.dropout_rng;
  TrainerState state;
  state.total_steps = cfg_.steps_override > 0 ? cfg_.steps_override : cfg_.total_steps;
  state.config = cfg_.config;
  std::optional<int64_t> resumed_at;
  if (cfg_.resume) {
    const auto existing = latest_checkpoint(cfg_.run_dir);
    if (!existing) throw ValueError("--resume: run folder '" + cfg_.run_dir + "' has no checkpoint to resume from");
    if (parts_.load_model) parts_.load_model(*existing);
    state = parts_.shards ? load_training_state(*existing, optimizer, [&](const auto& whole) { return parts_.shards->share(whole); })
                          : load_training_state(*existing, optimizer);
    // A run killed after its checkpoint and before what follows it (the run folder pointed at the
    // checkpoint) gets that now: resuming a finished run's last checkpoint trains no step.
    if (parts_.after_checkpoint) parts_.after_checkpoint(*existing);
    dropout_rng.set_state(state.rng_seed, state.rng_offset);
    if (cfg_.steps_override > 0) state.total_steps = cfg_.steps_override;
    resumed_at = state.step;
  }
  auto warmup = [&](int64_t total) {
    return cfg_.warmup_fraction > 0 ? std::max<int64_t>(1, static_cast<int64_t>(cfg_.warmup_fraction * static_cast<float>(total)))
                                    : cfg_.warmup_steps;
  };
  CosineSchedule schedule{cfg_.adamw.lr, cfg_.min_lr, warmup(state.total_steps), state.total_steps};
  TrainStep train_step(objective, optimizer, params, sync, cfg_.accumulation, cfg_.grad_clip, parts_.shards);
  const double flops_per_token = objective.flops_per_token();
  const double peak = kernels::gemm_peak_gflops(false) * 1e9;

  double eval_seconds = 0;  // duration of the last validation pass
  auto validate = [&]() -> Validation {
    if (!objective.has_validation()) return {};
    profiler::Scope p("evaluate");
    const double t0 = now_s();
    struct Timer {
      double t0;
      double& out;
      ~Timer() { out = now_s() - t0; }
    } timer{t0, eval_seconds};
    autograd::NoGradGuard no_grad;
    struct EvalMode {  // no dropout while validating
      nn::Module& m;
      ~EvalMode() { m.train(); }
    } eval_mode{module};
    module.eval();
    ValidationRequest request;
    request.step = state.step;
    request.batches = cfg_.eval_batches;
    if (state.window_steps > 0) request.train_loss = state.window_loss_sum / static_cast<double>(state.window_steps);
    Validation v = objective.validate(request);
    if (world > 1) {  // each process validated its share of every batch: the mean over the processes
      if (!std::isnan(v.primary)) v.primary = sync.mean(v.primary);
      if (v.metrics.is_object())
        for (auto& [k, x] : v.metrics.items())
          if (x.is_number_float()) x = sync.mean(x.get<double>());
    }
    return v;
  };
  // Validation's numbers into the step's line (and a line of their own after it, `record`).
  nlohmann::json record;
  auto report = [&](const Validation& v, nlohmann::json& line) {
    if (!std::isnan(v.primary)) state.val_loss = v.primary;
    if (v.metrics.is_object())
      for (const auto& [k, x] : v.metrics.items()) line[k] = x;
    record = v.record;
    if (record.is_object()) record["step"] = state.step;
    if (!quiet && !v.summary.empty()) std::fprintf(stderr, "%s%s\n", state.step > 0 ? "\n" : "", v.summary.c_str());
  };
  std::optional<MetricsLog> metrics;
  if (writer) metrics.emplace((run / "metrics.jsonl").string(), resumed_at);
  auto write = [&](const nlohmann::json& line) {
    if (metrics) {
      metrics->write(line);
      if (record.is_object()) metrics->write(record);
    }
    record = nullptr;
  };

  if (!cfg_.resume && objective.has_validation()) {  // the starting point of the validation curve
    nlohmann::json line = {{"step", 0}};
    report(validate(), line);
    write(line);
  }
  const std::string unit = objective.input_unit();  // "tokens" / "images": the rate's key and label
  const std::string rate_key = unit + "_per_s";
  ProgressLine progress(cfg_.label, state.total_steps, state.step, quiet, unit);
  TimeBudget budget(cfg_.time_limit_s);
  TrainResult result;
  const double elapsed_before = state.elapsed_seconds;  // training time of earlier invocations
  const double t_start = now_s();
  auto checkpoint = [&] {
    state.rng_seed = dropout_rng.seed(), state.rng_offset = dropout_rng.offset();
    state.elapsed_seconds = elapsed_before + (now_s() - t_start);
    // Tensor parallel: the writer's layers hold whole weights while it writes them.
    struct Whole {
      ParameterShards* shards;
      explicit Whole(ParameterShards* s) : shards(s) {
        if (shards) shards->whole_weights(true);
      }
      ~Whole() {
        if (shards) shards->whole_weights(false);
      }
    } whole(parts_.shards);
    OptimizerState moments;
    moments.steps = optimizer.steps();
    // ZeRO and tensor parallelism: each whole moment is gathered on the writer as the file is
    // written, one at a time; the other processes take part in each gather, in the same order.
    std::vector<std::pair<std::string, Tensor>> shares;
    if (optimizer.partitioned()) {
      moments.layout = optimizer.state_layout();
      moments.stream = [&optimizer](size_t i) { return optimizer.state_tensor(i); };
    } else if (parts_.shards) {
      shares = optimizer.state();
      moments.layout = parts_.shards->whole_layout(shares);
      moments.stream = [&](size_t i) { return parts_.shards->gather_for_writer(shares[i].first, shares[i].second); };
    } else {
      moments.moments = optimizer.state();
    }
    if (!writer && moments.stream) {
      for (size_t i = 0; i < moments.layout.size(); ++i) moments.stream(i);
      return;
    }
    if (!writer) return;
    result.checkpoint = save_checkpoint(cfg_.run_dir, parts_.write_model, moments, state, cfg_.keep_checkpoints);
    if (parts_.after_checkpoint) parts_.after_checkpoint(result.checkpoint);
  };
  const int64_t first_step = state.step;
  int64_t tokens_done = 0;
  double t_last = t_start;
  double comm_before = sync.comm_seconds();
  double window_loss = std::nan("");  // mean training loss between the last two validation points
  size_t tensor_peak = 0;             // the most tensor memory any step held

  while (state.step < state.total_steps) {
    const int64_t step = state.step;
    const float lr = schedule.at(step);
    const StepStats s = train_step.run(step, lr, &dropout_rng);
    tensor_peak = std::max(tensor_peak, s.tensor_peak_bytes);
    ++state.step;
    state.train_loss = s.loss;
    state.window_loss_sum += s.loss;
    ++state.window_steps;
    tokens_done += s.tokens * world;  // every process's share is the same size

    const double t_now = now_s();
    const double step_s = t_now - t_last;
    t_last = t_now;
    const double tps = static_cast<double>(s.tokens * world) / step_s;
    const double mfu = static_cast<double>(s.tokens) / step_s * flops_per_token / peak;  // this process's share of its cores' peak
    nlohmann::json line = {{"step", state.step}, {"loss", s.loss},       {"lr", lr},
                           {"grad_norm", s.grad_norm}, {rate_key, tps}, {"mfu", mfu},
                           {"elapsed_s", elapsed_before + (t_now - t_start)},
                           {"activation_mb", static_cast<double>(s.activation_bytes) / 1048576.0},
                           {"step_peak_mb", static_cast<double>(s.peak_bytes) / 1048576.0}};
    if (flops_per_token <= 0) line.erase("mfu");  // an objective that counts no FLOPs has no MFU
    if (world > 1) {  // the step's time in gradient all-reduces
      line["comm_ms"] = (sync.comm_seconds() - comm_before) * 1e3;
      comm_before = sync.comm_seconds();
    }
    objective.annotate(state.step, line);
    const bool out_of_time = sync.from_first(budget.spent(t_now - t_start)) != 0;  // process 0's clock decides
    if (out_of_time) state.total_steps = state.step;  // the time budget ends the run here
    const bool last = state.step == state.total_steps;
    if ((cfg_.eval_every > 0 && state.step % cfg_.eval_every == 0) || last) {
      report(validate(), line);
      window_loss = state.window_loss_sum / static_cast<double>(state.window_steps);
      state.window_loss_sum = 0, state.window_steps = 0;
    }
    write(line);

    const auto observed = budget.observe(state.step, state.step - first_step, t_now - t_start, eval_seconds, cfg_.eval_every);
    if (const int64_t total = sync.from_first(observed ? *observed : -1); total >= 0) {
      state.total_steps = total;
      schedule.total = total;
      // A warm-up already done stays done when a later check re-sizes the schedule.
      if (state.step < schedule.warmup) schedule.warmup = warmup(total);
      progress.set_total(total);
    }
    progress.update(state.step, objective.progress_note(state.step), s.loss, state.val_loss, tps,
                    flops_per_token > 0 ? mfu : std::nan(""));

    const bool stop_now = sync.any(interrupt_requested());  // Ctrl-C reaches one process or all: all stop here
    if (stop_now || out_of_time || last || (cfg_.checkpoint_every > 0 && state.step % cfg_.checkpoint_every == 0)) checkpoint();
    if (stop_now) {
      result.interrupted = true;
      break;
    }
  }
  progress.finish();
  if (profiler::enabled()) profiler::report(stderr);
  if (dist::launched_by_mpi() && !cfg_.quiet) {
    // Every process's own high-water mark: what ZeRO and tensor parallelism save is per process.
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    const dist::ProcessGroup& g = dist::ProcessGroup::world();
    std::fprintf(stderr, "rank %d of %d: peak RSS %.0f MB, peak tensor memory %.0f MB\n", g.rank(), g.size(),
                 static_cast<double>(u.ru_maxrss) / 1024.0, static_cast<double>(tensor_peak) / 1048576.0);
  }
  result.steps = state.step;
  result.train_loss = state.train_loss;
  result.mean_train_loss = window_loss;
  result.val_loss = state.val_loss;
  result.seconds = now_s() - t_start;
  result.inputs_per_s = static_cast<double>(tokens_done) / std::max(1e-9, result.seconds);
  result.input_unit = unit;
  return result;
}

}  // namespace cornerstone::train
