#include "cornerstone/train/trainer.h"

#include <algorithm>
#include <csignal>
#include <cstdlib>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "cornerstone/autograd/grad_mode.h"
#include "cornerstone/core/allocator.h"
#include "cornerstone/core/cpu.h"
#include "cornerstone/core/error.h"
#include "cornerstone/core/parallel.h"
#include "cornerstone/core/profiler.h"
#include "cornerstone/core/progress.h"
#include "cornerstone/core/rng.h"
#include "cornerstone/data/token_shards.h"
#include "cornerstone/io/atomic_file.h"
#include "cornerstone/kernels/peak.h"
#include "cornerstone/models/load.h"
#include "cornerstone/ops/elementwise.h"
#include "cornerstone/ops/precision.h"
#include "cornerstone/train/checkpoint.h"
#include "cornerstone/train/objective.h"
#include "cornerstone/train/optimizer.h"
#include "cornerstone/train/schedule.h"

namespace cornerstone::train {

namespace fs = std::filesystem;

namespace {

std::atomic<bool> g_interrupt{false};

extern "C" void on_signal(int) { g_interrupt.store(true); }

double now_s() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

// Keeps the metric lines of steps <= `step` (a resumed run rewrites what came after).
void truncate_metrics(const fs::path& path, int64_t step) {
  if (!fs::exists(path)) return;
  std::ifstream in(path);
  std::ostringstream keep;
  for (std::string line; std::getline(in, line);) {
    try {
      const auto j = nlohmann::json::parse(line);
      if (j.value("step", int64_t{0}) <= step) keep << line << "\n";
    } catch (const nlohmann::json::exception&) {
      break;  // a torn last line
    }
  }
  io::write_file_atomic(path.string(), keep.str());
}

std::string human_count(double x) {
  char buf[32];
  if (x >= 1e9) std::snprintf(buf, sizeof buf, "%.2fB", x / 1e9);
  else if (x >= 1e6) std::snprintf(buf, sizeof buf, "%.1fM", x / 1e6);
  else if (x >= 1e3) std::snprintf(buf, sizeof buf, "%.1fk", x / 1e3);
  else std::snprintf(buf, sizeof buf, "%.0f", x);
  return buf;
}

}  // namespace

void install_interrupt_handler() {
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
}

bool interrupt_requested() { return g_interrupt.load(); }

Trainer::Trainer(PretrainConfig config, RunOptions options) : cfg_(std::move(config)), opt_(std::move(options)) {
  if (const char* e = std::getenv("CORNERSTONE_TEST_INTERRUPT_AT_STEP")) interrupt_at_step_ = std::atoll(e);
}

TrainResult Trainer::run() {
  TrainingConfig& tc = cfg_.training;
  // bf16 mixed precision: bf16 GEMM operands, fp32 accumulation, fp32 master weights and state.
  ops::PrecisionGuard precision(tc.precision == "bf16" ? ops::Precision::BF16 : ops::Precision::F32);
  if (tc.precision == "bf16" && !cpu::features().avx512_bf16)
    throw UnsupportedError("--precision bf16 needs a CPU with AVX512-BF16 (this one has none); use f32");
  if (opt_.steps > 0) tc.steps = opt_.steps;
  const int64_t T = cfg_.sequence_length();
  const int64_t B = tc.batch_size;
  const int64_t micro_tokens = B * T;
  const int64_t accum = tc.tokens_per_step > 0 ? std::max<int64_t>(1, tc.tokens_per_step / micro_tokens) : 1;

  // ---- data ----
  const data::TokenDataset train = data::TokenDataset::open(opt_.data_dir, "train");
  std::optional<data::TokenDataset> val;
  try {
    val = data::TokenDataset::open(opt_.data_dir, "val");
  } catch (const ValueError&) {
    // no validation split: validation losses are skipped
  }
  // The model fresh from the seed, and the objective its family pretrains by (or the config's):
  // causal LM for decoders, masked LM for encoders.
  const std::unique_ptr<models::PretrainedModel> model_ptr = cfg_.model->create(tc.seed);
  models::PretrainedModel& model = *model_ptr;
  const std::unique_ptr<Objective> objective = make_objective({model, cfg_, train, val ? &*val : nullptr, opt_.data_dir});

  // ---- run folder ----
  const fs::path run(opt_.run_dir);
  const auto existing = latest_checkpoint(opt_.run_dir);
  if (!opt_.resume && existing)
    throw ValueError("run folder '" + opt_.run_dir + "' already has checkpoints; pass --resume to continue it or choose another --out");
  if (opt_.resume && !existing)
    throw ValueError("--resume: run folder '" + opt_.run_dir + "' has no checkpoint to resume from");
  // Continued (e.g. domain-adaptive) pretraining: another run's weights, a fresh optimizer and
  // schedule. A resumed run takes its weights from its own checkpoint instead.
  if (!opt_.init_from.empty() && !opt_.resume) models::load_weights_into(model, opt_.init_from);
  fs::create_directories(run);
  const fs::path data_tok = fs::path(opt_.data_dir) / "tokenizer.json";
  if (fs::exists(data_tok) && !fs::exists(run / "tokenizer.json")) fs::copy_file(data_tok, run / "tokenizer.json");
  nlohmann::json training_json = cfg_.to_json();
  if (!opt_.init_from.empty()) training_json["init_from"] = opt_.init_from;
  io::write_file_atomic((run / "training.json").string(), training_json.dump(2) + "\n");

  // ---- optimizer, state ----
  model.set_checkpoint_activations(tc.checkpoint_activations);
  AdamWConfig ac;
  ac.lr = tc.lr, ac.beta1 = tc.beta1, ac.beta2 = tc.beta2, ac.eps = tc.eps, ac.weight_decay = tc.weight_decay;
  AdamW optimizer(model.named_parameters(), ac);
  Rng dropout_rng(tc.seed ^ 0x5eedull);
  TrainerState state;
  state.total_steps = tc.steps;
  state.config = cfg_.to_json();
  if (opt_.resume) {
    state = load_checkpoint(*existing, model, optimizer);
    dropout_rng.set_state(state.rng_seed, state.rng_offset);
    truncate_metrics(run / "metrics.jsonl", state.step);
    if (opt_.steps > 0) state.total_steps = opt_.steps;
  }
  CosineSchedule schedule{tc.lr, tc.min_lr, tc.warmup_steps, state.total_steps};

  const double flops_per_token = objective->flops_per_token();
  const double peak = kernels::gemm_peak_gflops(false) * 1e9;
  if (!opt_.quiet)
    std::fprintf(stderr, "model: %s, %s parameters, %s | batch %lld x %lld tokens x %lld accumulation = %s tokens/step | %d threads\n",
                 model.model_type().c_str(), human_count(static_cast<double>(model.num_parameters())).c_str(),
                 objective->describe().c_str(),
                 static_cast<long long>(B), static_cast<long long>(T), static_cast<long long>(accum),
                 human_count(static_cast<double>(micro_tokens * accum)).c_str(), num_threads());
  if (!opt_.quiet && tc.precision == "bf16") {
    // Mixed precision pays only where bf16 products are faster than fp32 ones (Zen 4/5, AMX); a
    // CPU with half-rate bf16 dot products and no AMX (Xeons under some hypervisors) is slower.
    const double f32 = kernels::gemm_peak_gflops(false), b16 = kernels::gemm_peak_gflops(true);
    if (b16 < 1.15 * f32)
      std::fprintf(stderr, "note: bf16 GEMMs run at %.0f GFLOP/s on this CPU against %.0f for fp32: bf16 saves memory here but will not train faster\n",
                   b16, f32);
  }

  double eval_seconds = 0;  // duration of the last validation pass
  auto evaluate = [&]() -> double {
    if (!objective->has_validation()) return std::nan("");
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
    } eval_mode{model};
    model.eval();
    double total = 0;
    for (int64_t i = 0; i < tc.eval_batches; ++i) {
      total += objective->loss(objective->eval_batch(i, tc.eval_batches), nullptr).item();
    }
    return total / static_cast<double>(tc.eval_batches);
  };
  const double elapsed_before = state.elapsed_seconds;  // training time of earlier invocations
  double t_start = 0;
  auto checkpoint = [&](TrainResult& r) {
    state.rng_seed = dropout_rng.seed(), state.rng_offset = dropout_rng.offset();
    state.elapsed_seconds = elapsed_before + (now_s() - t_start);
    r.checkpoint = save_checkpoint(opt_.run_dir, model, optimizer, state, tc.keep_checkpoints);
  };

  std::ofstream metrics(run / "metrics.jsonl", std::ios::app);
  if (!opt_.resume && objective->has_validation()) {  // the starting point of the validation curve
    profiler::Scope p("evaluate");
    state.val_loss = evaluate();
    metrics << nlohmann::json{{"step", 0}, {"val_loss", state.val_loss}}.dump() << "\n";
  }
  Progress progress("pretrain", state.total_steps, "steps");
  progress.resume_from(state.step);
  TrainResult result;
  t_start = now_s();
  const int64_t first_step = state.step;
  int64_t tokens_done = 0;
  double t_last = t_start;
  bool sized_to_time = false;
  double t_mark = 0;

  while (state.step < state.total_steps) {
    const int64_t step = state.step;
    const float lr = schedule.at(step);
    optimizer.zero_grad();
    // Tensor memory of the step: what the forward pass keeps for the backward (the activations,
    // the part activation checkpointing shrinks) and the peak, above what persists between steps.
    CachingAllocator& alloc = CachingAllocator::global();
    const size_t persistent = alloc.stats().bytes_in_use;
    alloc.reset_peak();
    size_t activations = 0;
    double loss_sum = 0;
    for (int64_t m = 0; m < accum; ++m) {
      const data::Batch b = [&] {
        profiler::Scope p("data: sample batch");
        return objective->sample(step, m);
      }();
      Tensor loss = objective->loss(b, &dropout_rng);
      activations = std::max(activations, alloc.stats().bytes_in_use - std::min(persistent, alloc.stats().bytes_in_use));
      loss_sum += loss.item();
      (accum > 1 ? ops::scale(loss, 1.0f / static_cast<float>(accum)) : loss).backward();
    }
    const double loss = loss_sum / static_cast<double>(accum);
    if (!std::isfinite(loss))
      throw Error("training diverged: loss is " + std::to_string(loss) + " at step " + std::to_string(step) +
                  " (lower the learning rate; the last checkpoint is intact)");
    double grad_norm;
    {
      profiler::Scope p("optimizer: clip + AdamW");
      grad_norm = clip_grad_norm(model.parameters(), tc.grad_clip);
      optimizer.step(lr);
    }
    ++state.step;
    state.train_loss = loss;
    tokens_done += micro_tokens * accum;

    const double t_now = now_s();
    const double step_s = t_now - t_last;
    t_last = t_now;
    const double tps = static_cast<double>(micro_tokens * accum) / step_s;
    const double mfu = tps * flops_per_token / peak;
    nlohmann::json line = {{"step", state.step}, {"loss", loss},       {"lr", lr},
                           {"grad_norm", grad_norm}, {"tokens_per_s", tps}, {"mfu", mfu},
                           {"elapsed_s", elapsed_before + (t_now - t_start)},
                           {"activation_mb", static_cast<double>(activations) / 1048576.0},
                           {"step_peak_mb", static_cast<double>(alloc.stats().peak_bytes_in_use - std::min(persistent, alloc.stats().peak_bytes_in_use)) / 1048576.0}};
    const bool out_of_time = opt_.time_limit_s > 0 && (t_now - t_start) >= opt_.time_limit_s;
    if (out_of_time) state.total_steps = state.step;  // the time budget ends the run here
    const bool last = state.step == state.total_steps;
    if ((tc.eval_every > 0 && state.step % tc.eval_every == 0) || last) {
      profiler::Scope p("evaluate");
      const double v = evaluate();
      if (!std::isnan(v)) {
        state.val_loss = v;
        line["val_loss"] = v;
      }
    }
    metrics << line.dump() << "\n";
    metrics.flush();

    // A time-limited run sizes its schedule once the step time is known: from the steps after
    // the first three (which pay for JIT and first-touch), plus the share of validation passes.
    if (opt_.time_limit_s > 0 && !sized_to_time) {
      const int64_t done = state.step - first_step;
      if (done == 3) t_mark = t_now;
      if (done >= 3 && (done == 10 || t_now - t_start > 0.1 * opt_.time_limit_s)) {
        const double per_step = done > 3 ? (t_now - t_mark) / static_cast<double>(done - 3) : (t_now - t_start) / 3.0;
        const double eval_share = tc.eval_every > 0 ? eval_seconds / static_cast<double>(tc.eval_every) : 0.0;
        const double left = opt_.time_limit_s - (t_now - t_start);
        state.total_steps = state.step + std::max<int64_t>(1, static_cast<int64_t>(left / (per_step + eval_share)));
        schedule.total = state.total_steps;
        progress.set_total(state.total_steps);
        sized_to_time = true;
      }
    }
    if (!opt_.quiet) {
      char status[200], val_part[32] = "";
      if (state.val_loss > 0) std::snprintf(val_part, sizeof val_part, " val %.4f", state.val_loss);
      std::snprintf(status, sizeof status, "loss %.4f%s | %s tok/s | MFU %.0f%%", loss, val_part, human_count(tps).c_str(),
                    100 * mfu);
      progress.update(state.step, status);
    }

    // Test hook: deliver a real SIGINT to ourselves after this step (exercises the Ctrl-C path
    // deterministically).
    if (interrupt_at_step_ > 0 && state.step == interrupt_at_step_) std::raise(SIGINT);
    const bool stop_now = interrupt_requested() || (opt_.stop_after_steps > 0 && state.step - first_step >= opt_.stop_after_steps);
    if (stop_now || out_of_time || last || (tc.checkpoint_every > 0 && state.step % tc.checkpoint_every == 0))
      checkpoint(result);
    if (stop_now) {
      result.interrupted = true;
      break;
    }
  }
  if (!opt_.quiet) progress.finish();
  if (profiler::enabled()) profiler::report(stderr);
  result.steps = state.step;
  result.train_loss = state.train_loss;
  result.val_loss = state.val_loss;
  result.tokens_per_s = static_cast<double>(tokens_done) / std::max(1e-9, now_s() - t_start);
  return result;
}

}  // namespace cornerstone::train
