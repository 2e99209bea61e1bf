#include "cornerstone/adapt/task_model.h"

#include <unistd.h>

#include <filesystem>
#include <set>

#include "cornerstone/adapt/preference.h"
#include "cornerstone/autograd/grad_mode.h"
#include "cornerstone/core/error.h"
#include "cornerstone/io/atomic_file.h"
#include "cornerstone/interop/open_model.h"
#include "cornerstone/io/safetensors.h"
#include "cornerstone/io/staged_folder.h"
#include "cornerstone/io/temporaries.h"
#include "cornerstone/tokenize/chat_template.h"
#include "cornerstone/models/load.h"

namespace cornerstone::adapt {

namespace fs = std::filesystem;

std::string task_name(Task t) { return task_info(t).name; }

Task task_from_name(const std::string& s) {
  std::string known;
  for (const auto& i : task_infos()) {
    if (s == i.name) return i.task;
    known += (known.empty() ? "" : ", ") + std::string(i.name);
  }
  throw ValueError("unknown task '" + s + "' (expected one of " + known + ")");
}

std::string pooling_name(Pooling p) { return p == Pooling::Mean ? "mean" : "cls"; }

Pooling pooling_from_name(const std::string& s) {
  if (s == "mean") return Pooling::Mean;
  if (s == "cls") return Pooling::Cls;
  throw ValueError("unknown pooling '" + s + "' (expected mean or cls)");
}

namespace {
std::string mode_name(AdaptMode m) { return m == AdaptMode::Full ? "full" : m == AdaptMode::Frozen ? "frozen" : "lora"; }

// The base's own parameters inside the task module are named "base.<name>"; the rest is the head.
bool is_base_parameter(const std::string& name) { return name.rfind("base.", 0) == 0; }
}  // namespace

nlohmann::json TaskSpec::to_json() const {
  nlohmann::json j = {{"task", task_name(task)}, {"mode", mode_name(mode)}, {"labels", labels},
                      {"max_length", max_length}, {"base", base}};
  if (mode == AdaptMode::LoRA)
    j["lora"] = {{"rank", lora.rank}, {"alpha", lora.alpha}, {"dropout", lora.dropout}, {"targets", lora.targets},
                 {"base_storage", std::string(dtype_name(lora.base_storage))}};
  if (task == Task::Contrastive || task == Task::Classify || task == Task::Reward) j["pooling"] = pooling_name(pooling);
  if (task == Task::Contrastive) j["temperature"] = temperature;
  if (from_scratch) j["from_scratch"] = true;
  if (task_info(task).language_model) j["chat_template"] = chat_template, j["packing"] = packing;
  if (task == Task::DPO) j["beta"] = beta, j["dpo_loss"] = dpo_loss, j["rpo_alpha"] = rpo_alpha;
  if (task == Task::GRPO || task == Task::PPO) j["grpo"] = grpo.to_json();
  if (task == Task::PPO) j["ppo"] = ppo.to_json();
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
    s.pooling = j.contains("pooling") ? pooling_from_name(j.at("pooling").get<std::string>()) : default_pooling(s.task);
    s.temperature = j.value("temperature", 0.05f);
    s.from_scratch = j.value("from_scratch", false);
    s.chat_template = j.value("chat_template", "");
    s.packing = j.value("packing", false);
    s.beta = j.value("beta", 0.1f);
    s.dpo_loss = j.value("dpo_loss", "sigmoid");
    s.rpo_alpha = j.value("rpo_alpha", 0.0f);  // absent in runs from before RPO
    if (j.contains("grpo")) s.grpo = GrpoOptions::from_json(j.at("grpo"), where + ".grpo", s.task == Task::PPO ? 1 : 2);
    if (j.contains("ppo")) s.ppo = PpoOptions::from_json(j.at("ppo"), where + ".ppo");
    if (task_info(s.task).language_model) tokenize::chat_template(s.chat_template);  // a known name
  } catch (const nlohmann::json::exception& e) {
    throw FormatError(where + ": " + e.what());
  } catch (const ValueError& e) {
    throw FormatError(where + ": " + e.what());
  }
  return s;
}

nn::Module& TaskModel::module() const {
  if (classifier_) return *classifier_;
  if (tagger_) return *tagger_;
  if (value_head_) return *value_head_;
  return *base_;
}

void TaskModel::build(uint64_t seed, bool attach_lora) {
  const int64_t n = static_cast<int64_t>(spec_.labels.size());
  if (spec_.task == Task::Classify && n < 2) throw ValueError("classification needs at least 2 labels, got " + std::to_string(n));
  if (spec_.task == Task::Classify) classifier_ = std::make_shared<SequenceClassifier>(base_, n, seed, spec_.pooling);
  if (task_info(spec_.task).head_outputs > 0)
    classifier_ = std::make_shared<SequenceClassifier>(base_, task_info(spec_.task).head_outputs, seed, spec_.pooling);
  if (spec_.task == Task::Tag) tagger_ = std::make_shared<TokenClassifier>(base_, n, seed);
  if (spec_.task == Task::PPO) value_head_ = std::make_shared<ValueHead>(base_, seed ^ 0x7a1ull);
  if (spec_.mode == AdaptMode::Frozen) base_->set_requires_grad(false);
  if (spec_.mode == AdaptMode::LoRA && attach_lora) apply_lora(*base_, spec_.lora, seed ^ 0x10aull);
  // BERT's pooler is part of its classification head here: masked-LM pretraining never trains it.
  // (A mean-pooling head does not read it.)
  if (reads_feature_head() && spec_.mode != AdaptMode::Full)
    for (auto [name, p] : base_->feature_head()) p.requires_grad_(true);
}

TaskModel TaskModel::create(const TaskSpec& spec, uint64_t seed) {
  TaskModel m;
  m.spec_ = spec;
  m.spec_.base = fs::absolute(spec.base).string();
  // --from-scratch with --freeze-base is the random-features baseline of a linear probe. LoRA keeps
  // only its adapters and reloads the base from spec.base, so a fresh base could not be restored.
  if (spec.from_scratch && spec.mode == AdaptMode::LoRA)
    throw ValueError("--from-scratch does not combine with LoRA (its saved adapters assume the pretrained base); "
                     "fine-tune fully, or use --freeze-base for a probe on frozen random weights");
  interop::OpenedModel opened = interop::open_pretrained(spec.base);  // a model folder or a GGUF file
  m.base_ = spec.from_scratch ? std::shared_ptr<models::PretrainedModel>(
                                    models::create_model(opened.model->hf_config(), seed ^ 0x5c2a7c4ull, spec.base))
                              : opened.model;
  if (opened.model->as<models::ImageClassifier>())
    throw UnsupportedError("'" + spec.base + "' is an image classifier (" + opened.model->model_type() + "); fine-tune it on images with " +
                           "`cornerstone pretrain --config NEW.json --init " + spec.base + " --data IMAGES [--freeze-backbone]` (other labels get a new head)");
  if (!opened.tokenizer) throw IOError("base model '" + spec.base + "' has no tokenizer (tokenizer.json, or one in the GGUF file)");
  const tokenize::Tokenizer& tok = *opened.tokenizer;
  if (m.spec_.max_length <= 0) m.spec_.max_length = std::min<int64_t>(256, m.base_->max_positions());
  if (m.spec_.max_length < 2 || m.spec_.max_length > m.base_->max_positions())
    throw ValueError("--max-length " + std::to_string(m.spec_.max_length) + " must be in [2, " +
                     std::to_string(m.base_->max_positions()) + "] (the base model's position table)");
  if (task_info(spec.task).language_model) {
    const std::string name = task_name(spec.task);
    if (!m.base_->as<models::CausalLM>())
      throw ValueError(name + " trains a model that predicts the next token (gpt2, llama) to continue conversations; '" + spec.base +
                       "' is a " + m.base_->model_type() + " model, which does not");
    if (spec.mode == AdaptMode::Frozen)
      throw ValueError("--freeze-base leaves nothing to train for " + name + " (it has no head): fine-tune fully or use --lora-rank");
    if (spec.task == Task::DPO) {
      if (!(spec.beta > 0)) throw ValueError("--beta must be positive");
      dpo_loss_from_name(spec.dpo_loss);
      if (spec.packing) throw ValueError("--packing is for sft: dpo scores each response alone");
      if (!(spec.rpo_alpha >= 0)) throw ValueError("--rpo-alpha must be >= 0");
    }
    if (spec.task == Task::GRPO) spec.grpo.validate();
    if (spec.task == Task::PPO) spec.grpo.validate(1), spec.ppo.validate();
    m.spec_.chat_template = spec.chat_template.empty() ? tokenize::chat_template_for(spec.base, tok).name
                                                       : tokenize::chat_template(spec.chat_template).name;
  }
  if (spec.task == Task::Contrastive && spec.pooling == Pooling::Cls && m.base_->text_framing() != models::TextFraming::ClsSep)
    throw ValueError("--pooling cls needs a model whose first token ([CLS]) sees the whole text, an encoder; a " +
                     m.base_->model_type() + " model's first token has seen nothing else: use mean");
  m.format_.emplace(tok, m.base_->text_framing(), m.spec_.max_length);
  m.build(seed, true);
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
  TaskModel m;
  m.spec_ = TaskSpec::from_json(j, task_path);
  const bool lora = m.spec_.mode == AdaptMode::LoRA;
  // LoRA: the base it was tuned from (a folder or a GGUF file); full / frozen: the folder itself.
  m.base_ = lora ? interop::open_pretrained(m.spec_.base).model
                 : std::shared_ptr<models::PretrainedModel>(models::load_model(dir, {"score.weight", "classifier.weight", "classifier.bias",
                                                                                              "v_head.summary.weight", "v_head.summary.bias"}));
  m.format_.emplace(tokenize::Tokenizer::load((fs::path(dir) / "tokenizer.json").string()), m.base_->text_framing(), m.spec_.max_length);
  m.build(0, /*attach_lora=*/false);
  if (lora) {
    load_peft(*m.base_, dir);  // the saved adapters (attaching them freezes the base again)
    // The same parameters train as in the run that saved the folder (a resumed fine-tune's
    // optimizer state names them): an encoder classifier's pooler too.
    if (m.reads_feature_head())
      for (auto [name, p] : m.base_->feature_head()) p.requires_grad_(true);
  }
  // The head's weights (for LoRA also the pooler; the rest of the base came with it).
  const std::string file = (fs::path(dir) / (lora ? "adapter_model.safetensors" : "model.safetensors")).string();
  const auto f = io::SafeTensorsFile::open(file);
  autograd::NoGradGuard no_grad;
  const std::string prefix = lora ? "base_model.model." : "";
  std::set<std::string> in_base;  // the feature head's tensors, which the base's file holds
  for (const auto& [name, p] : m.base_->feature_head()) in_base.insert(name);
  for (const auto& [name, p] : m.head_tensors()) {
    if (!lora && in_base.count(name)) continue;  // loaded with the base above
    if (!f.contains(prefix + name)) throw FormatError(file + ": missing tensor '" + prefix + name + "'");
    const Tensor src = f.get(prefix + name);
    if (src.shape() != p.shape())
      throw FormatError(file + ": tensor '" + prefix + name + "' has shape " + src.shape().str() + ", expected " + p.shape().str());
    Tensor d = p.detach();
    d.copy_from(src);
  }
  return m;
}

std::vector<std::pair<std::string, Tensor>> TaskModel::head_tensors() const {
  std::vector<std::pair<std::string, Tensor>> out;
  if (classifier_ || tagger_ || value_head_)
    for (const auto& [name, p] : module().named_parameters())
      if (!is_base_parameter(name)) out.emplace_back(name, p.detach());
  if (reads_feature_head() && spec_.mode != AdaptMode::Full)
    for (const auto& [name, p] : base_->feature_head()) out.emplace_back(name, p.detach());
  return out;
}

void TaskModel::save(const std::string& dir, const std::function<void(const std::string&)>& extra) const {
  const fs::path final_dir(dir), tmp = fs::path(dir + ".tmp." + std::to_string(getpid()));
  io::remove_stale_temporaries(final_dir.parent_path().string(), final_dir.filename().string() + ".tmp.", ".tmp.");
  fs::remove_all(tmp);
  fs::create_directories(tmp);
  const auto head = head_tensors();
  if (spec_.mode == AdaptMode::LoRA) {
    save_peft(*base_, spec_.lora, tmp.string(), spec_.base, task_info(spec_.task).peft_type);
    if (!head.empty()) {  // add the head to the adapter file, as PEFT's modules_to_save
      const auto f = io::SafeTensorsFile::open((tmp / "adapter_model.safetensors").string());
      std::vector<std::pair<std::string, Tensor>> all;
      for (const auto& n : f.names()) all.emplace_back(n, f.get(n).clone());
      for (const auto& [n, t] : head) all.emplace_back("base_model.model." + n, t);
      io::save_safetensors((tmp / "adapter_model.safetensors").string(), all, {{"format", "pt"}});
    }
  } else {
    auto tensors = base_->hf_state_dict();  // includes an encoder's pooler
    std::set<std::string> in_base;
    for (const auto& [n, t] : tensors) in_base.insert(n);
    for (const auto& [n, t] : head)
      if (!in_base.count(n)) tensors.emplace_back(n, t);
    io::save_safetensors((tmp / "model.safetensors").string(), tensors, {{"format", "pt"}});
    nlohmann::json config = base_->hf_config();
    if (task_info(spec_.task).language_model) config["chat_template"] = spec_.chat_template;  // what generate --chat renders
    io::write_file_atomic((tmp / "config.json").string(), config.dump(2) + "\n");
  }
  tokenizer().save((tmp / "tokenizer.json").string());
  io::write_file_atomic((tmp / "task.json").string(), spec_.to_json().dump(2) + "\n");
  if (extra) extra(tmp.string());
  io::replace_folder(tmp.string(), final_dir.string());  // an existing folder is exchanged, never half-replaced
}

void TaskModel::merge_adapters() {
  if (spec_.mode != AdaptMode::LoRA) return;
  bake_lora(*base_);
  spec_.mode = AdaptMode::Full;
}

}  // namespace cornerstone::adapt
