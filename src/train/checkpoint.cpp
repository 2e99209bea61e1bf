#include "cornerstone/train/checkpoint.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "cornerstone/core/error.h"
#include "cornerstone/io/atomic_file.h"
#include "cornerstone/io/safetensors.h"
#include "cornerstone/io/staged_folder.h"
#include "cornerstone/io/temporaries.h"
#include "cornerstone/models/load.h"

namespace cornerstone::train {

namespace fs = std::filesystem;

namespace {

std::string step_name(int64_t step) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "step-%08lld", static_cast<long long>(step));
  return buf;
}

// Replaces `dst` by a hard link to `src` (a copy where links are not possible), atomically.
void link_into_place(const fs::path& src, const fs::path& dst) {
  std::error_code same;
  // Already there (a resumed run pointed again at its checkpoint): rename(2) of one link of a file
  // onto another link of the same file does nothing and would leave the temporary behind.
  if (fs::equivalent(src, dst, same)) return;
  io::remove_stale_temporaries(dst.parent_path().string(), dst.filename().string() + ".tmp.", ".tmp.");
  const fs::path tmp = dst.string() + ".tmp." + std::to_string(getpid());
  std::error_code ec;
  fs::remove(tmp, ec);
  fs::create_hard_link(src, tmp, ec);
  if (ec) fs::copy_file(src, tmp, fs::copy_options::overwrite_existing);
  fs::rename(tmp, dst);
}

std::vector<fs::path> checkpoints(const std::string& run_dir) {
  std::vector<fs::path> out;
  const fs::path dir = fs::path(run_dir) / "checkpoints";
  if (!fs::is_directory(dir)) return out;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string n = e.path().filename().string();
    if (e.is_directory() && n.rfind("step-", 0) == 0 && fs::exists(e.path() / "state.json")) out.push_back(e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

void remove_checkpoint_temporaries(const std::string& run_dir) {
  io::remove_stale_temporaries((fs::path(run_dir) / "checkpoints").string(), ".step-", ".tmp.");
}

std::string save_checkpoint(const std::string& run_dir, const ModelWriter& write_model, const OptimizerState& optimizer,
                            const TrainerState& state, int64_t keep) {
  const fs::path root = fs::path(run_dir) / "checkpoints";
  fs::create_directories(root);
  remove_checkpoint_temporaries(run_dir);
  const fs::path final_dir = root / step_name(state.step);
  const fs::path tmp = root / ("." + step_name(state.step) + ".tmp." + std::to_string(getpid()));
  fs::remove_all(tmp);
  fs::create_directories(tmp);

  write_model(tmp.string());
  if (optimizer.stream)
    io::save_safetensors_streamed((tmp / "optimizer.safetensors").string(), optimizer.layout, optimizer.stream);
  else
    io::save_safetensors((tmp / "optimizer.safetensors").string(), optimizer.moments);
  nlohmann::json st = {{"step", state.step},
                       {"total_steps", state.total_steps},
                       {"optimizer_step", optimizer.steps},
                       {"rng_seed", state.rng_seed},
                       {"rng_offset", state.rng_offset},
                       {"train_loss", state.train_loss},
                       {"val_loss", state.val_loss},
                       {"elapsed_seconds", state.elapsed_seconds},
                       {"window_loss_sum", state.window_loss_sum},
                       {"window_steps", state.window_steps},
                       {"config", state.config},
                       {"cornerstone_version", CORNERSTONE_VERSION}};
  io::write_file_atomic((tmp / "state.json").string(), st.dump(2) + "\n");

  // A checkpoint of the same step (from an earlier, interrupted run) is exchanged for the new one
  // in one rename: there is never a moment without a complete step-N.
  io::replace_folder(tmp.string(), final_dir.string());

  // Old checkpoints leave under a temporary name first: one killed half-way through its removal
  // is never seen as step-N.
  auto all = checkpoints(run_dir);
  while (static_cast<int64_t>(all.size()) > keep) {
    const fs::path doomed = root / ("." + all.front().filename().string() + ".tmp." + std::to_string(getpid()));
    fs::rename(all.front(), doomed);
    fs::remove_all(doomed);
    all.erase(all.begin());
  }
  return final_dir.string();
}

ModelWriter pretrained_model_writer(const models::PretrainedModel& model, const std::string& run_dir) {
  return [&model, tok = fs::path(run_dir) / "tokenizer.json"](const std::string& dir) {
    models::save_model(model, dir);
    if (fs::exists(tok)) link_into_place(tok, fs::path(dir) / "tokenizer.json");
  };
}

void point_run_at(const std::string& run_dir, const std::string& checkpoint_dir) {
  link_into_place(fs::path(checkpoint_dir) / "model.safetensors", fs::path(run_dir) / "model.safetensors");
  link_into_place(fs::path(checkpoint_dir) / "config.json", fs::path(run_dir) / "config.json");
}

std::optional<std::string> latest_checkpoint(const std::string& run_dir) {
  const auto all = checkpoints(run_dir);
  if (all.empty()) return std::nullopt;
  return all.back().string();
}

void load_checkpoint_weights(const std::string& dir, models::PretrainedModel& model) {
  const std::string weights = (fs::path(dir) / "model.safetensors").string();
  const auto wf = io::SafeTensorsFile::open(weights);
  model.load_hf_state_dict([&](const std::string& n) { return wf.contains(n) ? wf.get(n) : Tensor(); }, weights);
}

TrainerState load_training_state(const std::string& dir, AdamW& optimizer,
                                 const std::function<std::vector<std::pair<std::string, Tensor>>(const std::vector<std::pair<std::string, Tensor>>&)>&
                                     map_moments) {
  const fs::path d(dir);
  const std::string state_path = (d / "state.json").string();
  nlohmann::json st;
  try {
    st = nlohmann::json::parse(io::read_file(state_path));
  } catch (const nlohmann::json::exception& e) {
    throw FormatError(state_path + ": not valid JSON: " + e.what());
  }
  for (const char* k : {"step", "total_steps", "optimizer_step", "rng_seed", "rng_offset"})
    if (!st.contains(k) || !st[k].is_number_integer()) throw FormatError(state_path + ": missing or invalid '" + k + "'");

  const std::string opt_path = (d / "optimizer.safetensors").string();
  const auto of = io::SafeTensorsFile::open(opt_path);
  std::vector<std::pair<std::string, Tensor>> moments;
  for (const auto& n : of.names()) moments.emplace_back(n, of.get(n));
  try {
    optimizer.load_state(map_moments ? map_moments(moments) : moments, st["optimizer_step"].get<int64_t>());
  } catch (const FormatError& e) {
    throw FormatError(opt_path + ": " + e.what());
  }
  TrainerState s;
  s.step = st["step"].get<int64_t>();
  s.total_steps = st["total_steps"].get<int64_t>();
  s.rng_seed = st["rng_seed"].get<uint64_t>();
  s.rng_offset = st["rng_offset"].get<uint64_t>();
  s.train_loss = st.value("train_loss", 0.0);
  s.val_loss = st.value("val_loss", 0.0);
  s.elapsed_seconds = st.value("elapsed_seconds", 0.0);
  s.window_loss_sum = st.value("window_loss_sum", 0.0);
  s.window_steps = st.value("window_steps", int64_t{0});
  s.config = st.value("config", nlohmann::json());
  return s;
}

}  // namespace cornerstone::train
