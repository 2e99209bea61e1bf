#include "cornerstone/adapt/task_model.h"

#include <unistd.h>

#include <filesystem>

#include "cornerstone/autograd/grad_mode.h"
#include "cornerstone/core/error.h"
#include "cornerstone/io/atomic_file.h"
#include "cornerstone/io/safetensors.h"
#include "cornerstone/models/gpt_hf.h"
#include "cornerstone/models/load.h"

namespace cornerstone::adapt {

namespace fs = std::filesystem;

std::string task_name(Task t) {
  switch (t) {
    case Task::Classify: return "classify";
    case Task::Tag: return "tag";
    default: return "sft";
  }
}

Task task_from_name(const std::string& s) {
  if (s == "classify") return Task::Classify;
  if (s == "tag") return Task::Tag;
  if (s == "sft") return Task::SFT;
  throw ValueError("unknown task '" + s + "' (expected classify, tag or sft)");
}

namespace {
std::string mode_name(AdaptMode m) { return m == AdaptMode::Full ? "full" : m == AdaptMode::Frozen ? "frozen" : "lora"; }
}  // namespace

nlohmann::json TaskSpec::to_json() const {
  nlohmann::json j = {{"task", task_name(task)}, {"mode", mode_name(mode)}, {"labels", labels},
                      {"max_length", max_length}, {"base", base}};
  if (mode == AdaptMode::LoRA)
    j["lora"] = {{"rank", lora.rank}, {"alpha", lora.alpha}, {"dropout", lora.dropout}, {"targets", lora.targets},
                 {"base_storage", std::string(dtype_name(lora.base_storage))}};
  return j;
}

TaskSpec TaskSpec::from_json(const nlohmann::json& j, const std::string& where) {
  TaskSpec s;
  try {
    s.task = task_from_name(j.at("task").get<std::string>());
    const std::string m = j.at("mode").get<std::string>();
    s.mode = m == "full" ? AdaptMode::Full : m == "frozen" ? AdaptMode::Frozen : m == "lora" ? AdaptMode::LoRA
                                                                                            : throw FormatError(where + ": mode '" + m + "'");
    s.labels = j.value("labels", std::vector<std::string>{});
    s.max_length = j.at("max_length").get<int64_t>();
    s.base = j.at("base").get<std::string>();
    if (s.mode == AdaptMode::LoRA) {
      const auto& l = j.at("lora");
      s.lora.rank = l.at("rank").get<int64_t>();
      s.lora.alpha = l.at("alpha").get<float>();
      s.lora.dropout = l.at("dropout").get<float>();
      s.lora.targets = l.at("targets").get<std::vector<std::string>>();
      s.lora.base_storage = dtype_from_name(l.value("base_storage", "f32"));
    }
  } catch (const nlohmann::json::exception& e) {
    throw FormatError(where + ": " + e.what());
  }
  return s;
}

nn::Module& TaskModel::module() const {
  if (classifier_) return *classifier_;
  if (tagger_) return *tagger_;
  return *base_;
}

TaskModel TaskModel::create(const TaskSpec& spec, uint64_t seed) {
  TaskModel m;
  m.spec_ = spec;
  m.spec_.base = fs::absolute(spec.base).string();
  m.base_ = models::load_gpt(spec.base);
  const std::string tok = models::find_tokenizer(spec.base);
  if (tok.empty()) throw IOError("base model '" + spec.base + "' has no tokenizer.json");
  m.tokenizer_ = tokenize::Tokenizer::load(tok);
  if (m.spec_.max_length <= 0) m.spec_.max_length = std::min<int64_t>(256, m.base_->config().context);
  if (m.spec_.max_length < 2 || m.spec_.max_length > m.base_->config().context)
    throw ValueError("--max-length " + std::to_string(m.spec_.max_length) + " must be in [2, " +
                     std::to_string(m.base_->config().context) + "] (the base model's context)");
  const int64_t n = static_cast<int64_t>(spec.labels.size());
  if (spec.task == Task::Classify) m.classifier_ = std::make_shared<SequenceClassifier>(m.base_, n, seed);
  if (spec.task == Task::Tag) m.tagger_ = std::make_shared<TokenClassifier>(m.base_, n, seed);
  if (spec.mode == AdaptMode::Frozen) m.base_->set_requires_grad(false);
  if (spec.mode == AdaptMode::LoRA) apply_lora(*m.base_, spec.lora, seed ^ 0x10aull);
  return m;
}

TaskModel TaskModel::load(const std::string& dir) {
  const std::string task_path = (fs::path(dir) / "task.json").string();
  if (!fs::exists(task_path)) throw IOError("'" + dir + "' is not a fine-tuned model folder (no task.json)");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(io::read_file(task_path));
  } catch (const nlohmann::json::exception& e) {
    throw FormatError(task_path + ": not valid JSON");
  }
  TaskSpec spec = TaskSpec::from_json(j, task_path);
  TaskModel m;
  m.spec_ = spec;
  const bool lora = spec.mode == AdaptMode::LoRA;
  m.base_ = models::load_gpt(lora ? spec.base : dir);
  m.tokenizer_ = tokenize::Tokenizer::load((fs::path(dir) / "tokenizer.json").string());
  const int64_t n = static_cast<int64_t>(spec.labels.size());
  if (spec.task == Task::Classify) m.classifier_ = std::make_shared<SequenceClassifier>(m.base_, n, 0);
  if (spec.task == Task::Tag) m.tagger_ = std::make_shared<TokenClassifier>(m.base_, n, 0);
  if (lora) load_peft(*m.base_, dir);
  // The head's weights.
  const std::string file = (fs::path(dir) / (lora ? "adapter_model.safetensors" : "model.safetensors")).string();
  const auto f = io::SafeTensorsFile::open(file);
  autograd::NoGradGuard no_grad;
  const std::string prefix = lora ? "base_model.model." : "";
  for (const auto& [name, p] : m.module().named_parameters()) {
    if (name.rfind("base.", 0) == 0) continue;  // the base's own parameters came with it
    if (!f.contains(prefix + name)) throw FormatError(file + ": missing tensor '" + prefix + name + "'");
    const Tensor src = f.get(prefix + name);
    if (src.shape() != p.shape())
      throw FormatError(file + ": tensor '" + prefix + name + "' has shape " + src.shape().str() + ", expected " + p.shape().str());
    Tensor d = p.detach();
    d.copy_from(src);
  }
  return m;
}

void TaskModel::save(const std::string& dir) const {
  const fs::path final_dir(dir), tmp = fs::path(dir + ".tmp." + std::to_string(getpid()));
  fs::remove_all(tmp);
  fs::create_directories(tmp);
  std::vector<std::pair<std::string, Tensor>> head;
  for (const auto& [name, p] : module().named_parameters())
    if (name.rfind("base.", 0) != 0 && (classifier_ || tagger_)) head.emplace_back(name, p.detach());
  if (spec_.mode == AdaptMode::LoRA) {
    save_peft(*base_, spec_.lora, tmp.string(), spec_.base, spec_.task == Task::Classify ? "SEQ_CLS" : spec_.task == Task::Tag ? "TOKEN_CLS" : "CAUSAL_LM");
    if (!head.empty()) {  // add the head to the adapter file, as PEFT's modules_to_save
      const auto f = io::SafeTensorsFile::open((tmp / "adapter_model.safetensors").string());
      std::vector<std::pair<std::string, Tensor>> all;
      for (const auto& n : f.names()) all.emplace_back(n, f.get(n).clone());
      for (auto& [n, t] : head) all.emplace_back("base_model.model." + n, t);
      io::save_safetensors((tmp / "adapter_model.safetensors").string(), all, {{"format", "pt"}});
    }
  } else {
    auto tensors = models::hf_state_dict(*base_);
    for (auto& h : head) tensors.push_back(h);
    io::save_safetensors((tmp / "model.safetensors").string(), tensors, {{"format", "pt"}});
    io::write_file_atomic((tmp / "config.json").string(), models::hf_config(base_->config()).dump(2) + "\n");
  }
  tokenizer_.save((tmp / "tokenizer.json").string());
  io::write_file_atomic((tmp / "task.json").string(), spec_.to_json().dump(2) + "\n");
  if (fs::exists(final_dir)) {
    const fs::path old = fs::path(dir + ".old." + std::to_string(getpid()));
    fs::rename(final_dir, old);
    fs::rename(tmp, final_dir);
    fs::remove_all(old);
  } else {
    fs::rename(tmp, final_dir);
  }
}

void TaskModel::merge_adapters() {
  if (spec_.mode != AdaptMode::LoRA) return;
  bake_lora(*base_);
  spec_.mode = AdaptMode::Full;
}

std::vector<int32_t> TaskModel::encode_text(const std::string& text) const {
  std::vector<int32_t> ids = tokenizer_.encode(text);
  const auto eos = tokenizer_.eos_id();
  const size_t room = static_cast<size_t>(spec_.max_length) - (eos ? 1 : 0);
  if (ids.size() > room) ids.resize(room);
  if (eos) ids.push_back(*eos);
  if (ids.empty()) ids.push_back(0);
  return ids;
}

std::pair<std::vector<int32_t>, std::vector<int32_t>> TaskModel::encode_words(const std::vector<std::string>& words) const {
  std::vector<int32_t> ids, word_of;
  for (size_t w = 0; w < words.size(); ++w) {
    // Words after the first are preceded by a space, as in running text.
    const std::vector<int32_t> pieces = tokenizer_.encode(w == 0 ? words[w] : " " + words[w]);
    for (size_t p = 0; p < pieces.size(); ++p) {
      if (static_cast<int64_t>(ids.size()) == spec_.max_length) return {ids, word_of};
      ids.push_back(pieces[p]);
      word_of.push_back(p == 0 ? static_cast<int32_t>(w) : -1);
    }
  }
  return {ids, word_of};
}

}  // namespace cornerstone::adapt
