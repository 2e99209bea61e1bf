#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <mutex>

#include "cornerstone/adapt/finetune.h"
#include "cornerstone/adapt/lora.h"
#include "cornerstone/autograd/grad_mode.h"
#include "cornerstone/cornerstone.h"
#include "cornerstone/core/error.h"
#include "cornerstone/data/images.h"
#include "cornerstone/eval/images.h"
#include "cornerstone/eval/perplexity.h"
#include "cornerstone/infer/quantized_folder.h"
#include "cornerstone/io/atomic_file.h"
#include "cornerstone/kernels/softmax.h"
#include "cornerstone/interop/open_model.h"
#include "cornerstone/models/gpt/gpt.h"
#include "cornerstone/models/image_text.h"
#include "cornerstone/models/load.h"
#include "cornerstone/eval/loss.h"

namespace cornerstone {

namespace fs = std::filesystem;

struct Model::State {
  std::string path;
  LoadOptions options;
  std::string model_type;
  std::string format = "f32";
  std::shared_ptr<models::PretrainedModel> model;  // f32; null for a quantized folder
  std::optional<adapt::TaskModel> task;
  std::optional<tokenize::Tokenizer> tokenizer;
  std::string chat_dir;  // the folder whose config.json may name a chat template
  bool adapters_apart = false;  // a LoRA folder loaded with merge_adapters = false
  mutable std::once_flag weights_once;
  mutable std::optional<infer::InferenceWeights> weights;  // packed for generation, built on first use
};

std::string capability_name(Capability c) {
  switch (c) {
    case Capability::CausalLM: return "causal-lm";
    case Capability::MaskedLM: return "masked-lm";
    case Capability::Embeddings: return "embeddings";
    case Capability::Classifier: return "classifier";
    case Capability::Tagger: return "tagger";
    case Capability::Seq2Seq: return "seq2seq";
    case Capability::ImageText: return "image-text";
    default: return "image-classifier";
  }
}

namespace {

nlohmann::json read_json(const fs::path& p) {
  try {
    return nlohmann::json::parse(io::read_file(p.string()));
  } catch (const nlohmann::json::exception& e) {
    throw FormatError(p.string() + ": not valid JSON: " + e.what());
  }
}

// A PEFT adapter folder without task.json: its adapters merged into the base it names (a model
// folder or a GGUF file).
void open_peft(Model::State& s) {
  std::string base = s.options.base;
  if (base.empty()) base = read_json(fs::path(s.path) / "adapter_config.json").value("base_model_name_or_path", "");
  std::error_code ec;
  const bool folder = !base.empty() && fs::is_directory(base, ec);
  if (!folder && (base.empty() || !interop::is_gguf_file(base)))
    throw IOError("'" + s.path + "' is a LoRA adapter whose base model " +
                  (base.empty() ? std::string("is not named") : "'" + base + "' is neither a model folder nor a GGUF file here") +
                  " (pass the base model)");
  interop::OpenedModel b = interop::open_pretrained(base);
  adapt::load_peft(*b.model, s.path);
  if (s.options.merge_adapters)
    adapt::bake_lora(*b.model);
  else
    s.adapters_apart = true;
  s.model = b.model;
  if (folder) s.chat_dir = base;
  // The tokenizer: the one asked for, else the adapter folder's own, else the base's.
  if (s.options.tokenizer.empty()) {
    const std::string own = models::find_tokenizer(s.path);
    if (!own.empty()) s.options.tokenizer = own;
    else s.tokenizer = std::move(b.tokenizer);
  }
}

}  // namespace

Model load(const std::string& path, const LoadOptions& options) {
  Model m;
  m.s_ = std::make_shared<Model::State>();
  Model::State& s = *m.s_;
  s.path = path;
  s.options = options;
  s.chat_dir = path;
  std::error_code ec;
  if (!fs::exists(path, ec)) throw IOError("model '" + path + "' does not exist");
  const fs::path dir(path);
  if (!fs::is_directory(path, ec)) {
    interop::OpenedModel o = interop::open_pretrained(path);  // a GGUF file (anything else: an error naming it)
    s.model = o.model;
    if (s.options.tokenizer.empty()) s.tokenizer = std::move(o.tokenizer);
  } else if (fs::exists(dir / "task.json")) {
    s.task.emplace(adapt::TaskModel::load(path));
    // An instruction-tuned LoRA folder generates with its adapters folded in (the same outputs,
    // without the adapters' extra products per token).
    if (adapt::task_info(s.task->spec().task).language_model) {
      if (options.merge_adapters)
        s.task->merge_adapters();
      else
        s.adapters_apart = s.task->spec().mode == adapt::AdaptMode::LoRA;
    }
    s.model = s.task->base_ptr();
    if (options.tokenizer.empty()) s.tokenizer = s.task->tokenizer();
  } else if (fs::exists(dir / "adapter_config.json") && !fs::exists(dir / "config.json")) {
    open_peft(s);
  } else {
    const nlohmann::json config = models::read_model_config(path);
    const auto stored = infer::folder_format(config, (dir / "config.json").string());
    if (stored) s.format = std::string(kernels::weight_format_name(*stored));
    if (stored && *stored != kernels::WeightFormat::F32 && *stored != kernels::WeightFormat::BF16) {
      s.weights.emplace(infer::InferenceWeights::load(path, options.format));  // blocks: inference only
      std::call_once(s.weights_once, [] {});
      s.model_type = config.value("model_type", "gpt2");
    } else {
      s.model = std::shared_ptr<models::PretrainedModel>(models::load_model(path));
    }
  }
  if (s.model) s.model_type = s.model->model_type();
  if (!s.options.tokenizer.empty()) {
    s.tokenizer = tokenize::Tokenizer::load(s.options.tokenizer);
  } else if (!s.tokenizer) {
    const std::string t = fs::is_directory(path, ec) ? models::find_tokenizer(path) : "";
    if (!t.empty()) s.tokenizer = tokenize::Tokenizer::load(t);
  }
  if (s.model) s.model->eval();
  return m;
}

std::string lora_base(const std::string& path) {
  std::error_code ec;
  const fs::path dir(path);
  if (!fs::is_directory(dir, ec)) return "";
  if (fs::exists(dir / "task.json", ec)) {
    const fs::path file = dir / "task.json";
    const adapt::TaskSpec spec = adapt::TaskSpec::from_json(read_json(file), file.string());
    return spec.mode == adapt::AdaptMode::LoRA && adapt::task_info(spec.task).language_model ? spec.base : "";
  }
  if (fs::exists(dir / "adapter_config.json", ec) && !fs::exists(dir / "config.json", ec)) {
    const nlohmann::json j = read_json(dir / "adapter_config.json");
    const std::string type = j.value("task_type", "CAUSAL_LM");  // PEFT's; absent: a language model's
    return type == "CAUSAL_LM" ? j.value("base_model_name_or_path", "") : "";
  }
  return "";
}

infer::LoRADeltas Model::lora_deltas() const {
  if (!s_->adapters_apart || !s_->model)
    throw ValueError("'" + s_->path + "' has no LoRA adapters kept apart (a LoRA folder opened with merge_adapters = false has)");
  return adapt::lora_deltas(*s_->model);
}

const std::string& Model::path() const { return s_->path; }
std::string Model::model_type() const { return s_->model_type; }
std::string Model::weight_format() const { return s_->weights ? std::string(kernels::weight_format_name(s_->weights->format())) : s_->format; }
std::string Model::kind() const { return s_->task ? adapt::task_name(s_->task->spec().task) : "pretrained"; }
std::shared_ptr<models::PretrainedModel> Model::pretrained() const { return s_->model; }
std::shared_ptr<models::PretrainedModel> Model::language_model(const std::string& job) const {
  if (!s_->model)
    throw UnsupportedError(job + ": '" + s_->path + "' is a " + weight_format() +
                           " folder, which holds no float weights; " + job + " the f32 or bf16 model it was made from");
  if (s_->task && !adapt::task_info(s_->task->spec().task).language_model)
    throw UnsupportedError(job + ": '" + s_->path + "' is a " + kind() + " fine-tune; " + job +
                           " writes language models, and its task head has no place in one (use it with `cornerstone evaluate` or "
                           "`embed`, or " + job + " its base model)");
  return s_->model;
}

const adapt::TaskModel* Model::task() const { return s_->task ? &*s_->task : nullptr; }

std::vector<Capability> Model::capabilities() const {
  std::vector<Capability> out;
  if (!s_->model) return {Capability::CausalLM};  // quantized decoder weights
  if (s_->task) {
    const adapt::Task t = s_->task->spec().task;
    if (t == adapt::Task::Classify) out.push_back(Capability::Classifier);
    if (t == adapt::Task::Tag) out.push_back(Capability::Tagger);
    if (adapt::task_info(t).language_model) out.push_back(Capability::CausalLM);  // sft, dpo, grpo
    out.push_back(Capability::Embeddings);
    return out;
  }
  if (s_->model->as<models::ImageClassifier>()) return {Capability::Image};
  if (s_->model->as<models::ImageTextModel>()) return {Capability::ImageText, Capability::Embeddings};
  if (s_->model->as<models::CausalLM>()) out.push_back(Capability::CausalLM);
  if (s_->model->as<models::MaskedLM>()) out.push_back(Capability::MaskedLM);
  out.push_back(Capability::Embeddings);
  return out;
}

int64_t Model::context() const { return s_->model ? s_->model->max_positions() : inference_weights().config().context; }

bool Model::can(Capability c) const {
  const auto caps = capabilities();
  return std::find(caps.begin(), caps.end(), c) != caps.end();
}

std::string Model::describe() const {
  std::string caps;
  for (Capability c : capabilities()) caps += (caps.empty() ? "" : ", ") + capability_name(c);
  return model_type() + (kind() == "pretrained" ? "" : " fine-tuned for " + kind()) + " (" + weight_format() + "): " + caps;
}

namespace {
[[noreturn]] void cannot(const Model& m, const std::string& what) {
  throw UnsupportedError("'" + m.path() + "' is a " + m.describe() + "; it cannot " + what);
}
}  // namespace

bool Model::has_tokenizer() const { return s_->tokenizer.has_value(); }

const tokenize::Tokenizer& Model::tokenizer() const {
  if (!s_->tokenizer) throw IOError("model '" + s_->path + "' has no tokenizer.json; pass a tokenizer");
  return *s_->tokenizer;
}

tokenize::ChatTemplate Model::chat_template() const {
  if (s_->task && adapt::task_info(s_->task->spec().task).language_model) return tokenize::chat_template(s_->task->spec().chat_template);
  return tokenize::chat_template_for(s_->chat_dir, tokenizer());
}

bool Model::instruction_tuned() const {
  if (s_->task) return adapt::task_info(s_->task->spec().task).language_model;
  std::error_code ec;
  const fs::path cfg = fs::path(s_->chat_dir) / "config.json";
  if (!fs::is_regular_file(cfg, ec)) return false;
  const auto j = nlohmann::json::parse(io::read_file(cfg.string()), nullptr, false);
  return j.is_object() && j.contains("chat_template") && j["chat_template"].is_string();
}

const infer::InferenceWeights& Model::inference_weights() const {
  if (!can(Capability::CausalLM)) cannot(*this, "generate text (it does not predict the next token)");
  if (s_->adapters_apart)
    throw UnsupportedError("'" + s_->path + "' was opened with its LoRA adapters kept apart (merge_adapters = false): serve them with "
                           "lora_deltas() over the base's weights, or open it again to generate");
  std::call_once(s_->weights_once, [&] {
    // Any decoder stack of standard blocks runs on the one runner (models/decoder_stack.h).
    if (!s_->model->config().decoder_stack()) cannot(*this, "generate: its family has no inference runner");
    kernels::WeightFormat f = kernels::WeightFormat::F32;
    if (s_->format == "bf16") f = kernels::WeightFormat::BF16;
    s_->weights.emplace(infer::InferenceWeights::from_model(*s_->model, s_->options.format.value_or(f)));
  });
  return *s_->weights;
}

std::vector<infer::Generation> Model::generate(const std::vector<std::string>& prompts, const infer::GenerateOptions& options,
                                               const infer::TextCallback& on_text, infer::GenerateStats* stats) const {
  const infer::InferenceWeights& weights = inference_weights();  // refuses a model that cannot generate
  const infer::Generator gen(weights, tokenizer());
  return gen.generate(prompts, options, on_text, stats);
}

adapt::Pooling Model::default_pooling() const {
  if (s_->task && s_->task->spec().task == adapt::Task::Contrastive) return s_->task->spec().pooling;
  return adapt::Pooling::Mean;  // a classifier's pooling is its head's, not the embedding's
}

Tensor Model::embed(const std::vector<std::string>& texts, std::optional<adapt::Pooling> pooling, bool normalize,
                    int64_t batch_size) const {
  if (!s_->model) cannot(*this, "embed text (a quantized folder holds inference weights only; embed the f32 model)");
  if (!can(Capability::Embeddings)) cannot(*this, "embed text (an image model reads pixels, not text)");
  const int64_t limit = s_->model->max_positions();
  const int64_t max_length = s_->options.max_length;
  if (max_length > limit)
    throw ValueError("--max-length " + std::to_string(max_length) + " exceeds the model's " + std::to_string(limit) + " positions");
  if (const auto* clip = s_->model->as<models::ImageTextModel>()) {  // the projected end-of-text state, unit length
    s_->model->eval();
    std::vector<std::vector<int32_t>> captions;
    for (const std::string& t : texts) captions.push_back(models::caption_ids(tokenizer(), t, clip->eos_token_id(), max_length > 0 ? max_length : limit));
    return models::embed_captions(*clip, captions, batch_size);
  }
  const adapt::InputFormat format(tokenizer(), s_->model->text_framing(), max_length > 0 ? max_length : std::min<int64_t>(limit, 512));
  return adapt::embed_texts(*s_->model, format, texts, pooling.value_or(default_pooling()), normalize, batch_size);
}

namespace {
// Image files as a set of the model's shape (unlabelled).
data::ImageSet read_images(const std::vector<std::string>& paths, const models::ImageSpec& spec) {
  if (paths.empty()) throw ValueError("no images given");
  data::ImageSet set;
  set.channels = spec.channels, set.height = set.width = spec.image_size;
  set.source = "the given images";
  for (const std::string& p : paths) {
    data::ImageShape shape = spec.shape();
    const std::vector<uint8_t> px = data::load_image(p, shape);
    set.pixels.insert(set.pixels.end(), px.begin(), px.end());
    set.labels.push_back(0);
    set.files.push_back(p);
  }
  set.classes = {""};
  return set;
}
}  // namespace

Tensor Model::embed_images(const std::vector<std::string>& paths, int64_t batch_size) const {
  const auto* clip = s_->model ? s_->model->as<models::ImageTextModel>() : nullptr;
  if (!clip) cannot(*this, "embed images (only an image-text model such as clip puts images in an embedding space; an image classifier gives labels: `classify`)");
  s_->model->eval();
  return models::embed_image_set(*clip, read_images(paths, clip->image_input()), batch_size);
}

std::vector<std::string> Model::image_labels() const {
  const auto* images = s_->model ? s_->model->as<models::ImageClassifier>() : nullptr;
  if (!images) cannot(*this, "classify images by its own labels (it is not an image classifier)");
  const models::ImageSpec& spec = images->image_spec();
  std::vector<std::string> out;
  for (int64_t i = 0; i < spec.num_labels; ++i) out.push_back(spec.label(i));
  return out;
}

Tensor Model::classify_images(const std::vector<std::string>& paths, const std::vector<std::string>& labels, const std::string& prompt_template,
                              int64_t batch_size) const {
  if (batch_size <= 0) throw ValueError("classify: the batch size must be positive");
  if (const auto* clip = s_->model ? s_->model->as<models::ImageTextModel>() : nullptr) {
    if (labels.size() < 2) throw ValueError("zero-shot classification with an image-text model needs --labels (at least 2, comma-separated)");
    s_->model->eval();
    const Tensor images = models::embed_image_set(*clip, read_images(paths, clip->image_input()), batch_size);
    return eval::zero_shot_probabilities(*clip, tokenizer(), images, labels, prompt_template, s_->model->max_positions());
  }
  const auto* images = s_->model ? s_->model->as<models::ImageClassifier>() : nullptr;
  if (!images) cannot(*this, "classify images (it reads text: `finetune --task classify` makes a text classifier)");
  if (!labels.empty()) throw ValueError("--labels is for zero-shot classification by an image-text model; an image classifier has its own labels");
  autograd::NoGradGuard no_grad;
  s_->model->eval();
  const data::ImageSet set = read_images(paths, images->image_spec());
  const int64_t K = images->image_spec().num_labels, N = set.size();
  std::vector<float> out;
  for (int64_t s = 0; s < N; s += batch_size) {
    std::vector<int64_t> rows;
    for (int64_t r = s; r < std::min(N, s + batch_size); ++r) rows.push_back(r);
    const std::vector<float> l = images->image_logits(data::image_batch(set, rows, images->image_spec().transform())[data::batch_keys::pixels]).to_vector();
    out.resize(out.size() + l.size());
    kernels::softmax_forward(l.data(), static_cast<int64_t>(rows.size()), K, out.data() + out.size() - l.size());
  }
  return Tensor::from_data({N, K}, out);
}

const std::vector<std::string>& Model::labels() const {
  if (!can(Capability::Classifier)) cannot(*this, "classify text (it has no classification head: `finetune --task classify` makes one)");
  return s_->task->spec().labels;
}

Tensor Model::classify(const std::vector<std::string>& texts, const std::vector<std::string>& pairs, int64_t batch_size) const {
  const auto& labels = this->labels();
  if (!pairs.empty() && pairs.size() != texts.size())
    throw ValueError("classify: " + std::to_string(pairs.size()) + " pair texts for " + std::to_string(texts.size()) + " texts");
  if (batch_size <= 0) throw ValueError("classify: the batch size must be positive");
  const adapt::TaskModel& t = *s_->task;
  autograd::NoGradGuard no_grad;
  t.module().eval();
  const int64_t L = static_cast<int64_t>(labels.size()), N = static_cast<int64_t>(texts.size());
  Tensor out = Tensor::empty({N, L});
  float* o = out.data<float>();
  for (int64_t s = 0; s < N; s += batch_size) {
    const int64_t e = std::min(N, s + batch_size);
    std::vector<adapt::ModelInput> in;
    for (int64_t i = s; i < e; ++i)
      in.push_back(pairs.empty() ? t.inputs().text(texts[static_cast<size_t>(i)]) : t.inputs().pair(texts[static_cast<size_t>(i)], pairs[static_cast<size_t>(i)]));
    std::vector<const adapt::ModelInput*> ptrs;
    for (const auto& x : in) ptrs.push_back(&x);
    const adapt::PaddedBatch b = adapt::pad_batch(ptrs);
    const Tensor logits = t.classifier()->logits(b.ids, b.lengths, b.segments).contiguous();
    const float* z = logits.data<float>();
    for (int64_t r = 0; r < e - s; ++r) {  // softmax per row
      const float* zr = z + r * L;
      float* pr = o + (s + r) * L;
      const float m = *std::max_element(zr, zr + L);
      double sum = 0;
      for (int64_t c = 0; c < L; ++c) sum += std::exp(static_cast<double>(zr[c] - m));
      for (int64_t c = 0; c < L; ++c) pr[c] = static_cast<float>(std::exp(static_cast<double>(zr[c] - m)) / sum);
    }
  }
  return out;
}

namespace {

// The first line's keys of a JSONL file: what kind of labelled data it is.
nlohmann::json first_record(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw IOError("cannot read '" + path + "'");
  for (std::string line; std::getline(in, line);) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object()) throw FormatError(path + ":1: not a JSON object");
    return j;
  }
  throw ValueError("'" + path + "' has no examples");
}

Evaluation report(const adapt::TaskReport& r) { return {r.metric, r.json, r.table}; }

}  // namespace

Evaluation Model::evaluate(const std::string& data, const EvaluateOptions& o) const {
  std::error_code ec;
  if (const auto* images = s_->model ? s_->model->as<models::ImageClassifier>() : nullptr) {  // labelled images: accuracy
    const models::ImageSpec& spec = images->image_spec();
    const data::ImageSet set = fs::is_regular_file(data, ec) ? data::read_image_file(data, spec.shape(), spec.labels)
                                                             : data::open_image_split(data, o.split, spec.shape(), spec.labels);
    const eval::TaskMetrics m = eval::evaluate_images(*images, set, std::max<int64_t>(o.batch, 64));
    return {"image-classification", m.to_json(), m.table()};
  }
  if (const auto* clip = s_->model ? s_->model->as<models::ImageTextModel>() : nullptr) {  // captioned images: retrieval, zero-shot
    s_->model->eval();
    const data::ImageSet set = fs::is_regular_file(data, ec) ? data::read_image_file(data, clip->image_input().shape())
                                                             : data::open_image_split(data, o.split, clip->image_input().shape());
    const eval::ImageTextEvaluation e =
        eval::evaluate_image_text(*clip, tokenizer(), set, o.prompt_template, s_->model->max_positions(), std::max<int64_t>(o.batch, 64));
    return {"image-text", e.to_json(), e.table()};
  }
  if (fs::is_directory(data, ec)) {  // token shards: perplexity
    if (!can(Capability::CausalLM)) cannot(*this, "be scored on token shards (perplexity needs a model that predicts the next token)");
    const auto shards = data::TokenDataset::open(data, o.split);
    eval::EvalResult r;
    const auto* gpt = dynamic_cast<const models::GPT*>(s_->model.get());
    if (gpt && !s_->task && !s_->options.format) {  // f32: the training forward pass
      r = eval::evaluate_loss(*gpt, shards, o.context > 0 ? o.context : gpt->config().context, o.batch, o.max_tokens);
    } else {  // quantized (or packed) weights: the inference forward pass
      const auto& w = inference_weights();
      r = eval::evaluate_perplexity(w, shards, o.context > 0 ? o.context : w.config().context, o.batch, o.max_tokens);
    }
    char line[160];
    std::snprintf(line, sizeof line, "%s loss %.4f | perplexity %.2f | %lld tokens\n", o.split.c_str(), r.loss, r.perplexity,
                  static_cast<long long>(r.tokens));
    return {"perplexity", {{"loss", r.loss}, {"perplexity", r.perplexity}, {"tokens", r.tokens}}, line};
  }
  if (!fs::exists(data, ec)) throw IOError("evaluation data '" + data + "' does not exist");
  if (s_->task) return report(adapt::evaluate_file(*s_->task, data, o.batch));
  // A model without a task head: what the data asks for decides.
  const nlohmann::json first = first_record(data);
  if (first.contains("prompt") && first.contains("response")) {
    if (!can(Capability::CausalLM) || !s_->model) cannot(*this, "score responses (it does not predict the next token)");
    adapt::TaskSpec spec;
    spec.task = adapt::Task::SFT, spec.base = s_->path;
    return report(adapt::evaluate_file(adapt::TaskModel::create(spec, 0), data, o.batch));
  }
  if (first.contains("query") && first.contains("positive")) {
    if (!s_->model) cannot(*this, "embed text (a quantized folder holds inference weights only)");
    adapt::TaskSpec spec;
    spec.task = adapt::Task::Contrastive, spec.base = s_->path, spec.pooling = adapt::Pooling::Mean;
    return report(adapt::evaluate_file(adapt::TaskModel::create(spec, 0), data, o.batch));
  }
  cannot(*this, "score '" + data + "': labelled text needs a task head (fine-tune it with `cornerstone finetune --task classify|tag`), " +
                    "token shards need a causal LM");
}

Evaluation Model::evaluate_tasks(const std::vector<std::string>& tasks, const eval::HarnessOptions& options) const {
  if (!can(Capability::CausalLM)) cannot(*this, "be scored on tasks (the harness needs a model that predicts the next token)");
  if (!s_->model) cannot(*this, "be scored on tasks: log-likelihoods need float weights, and a " + weight_format() + " folder has none");
  if (tasks.empty()) throw ValueError("evaluate: no tasks given");
  std::vector<eval::HarnessTask> loaded;  // every task read (and checked) before any is scored
  for (const auto& t : tasks) loaded.push_back(eval::harness_task(t));
  eval::CausalLMHarnessModel lm(s_->model, tokenizer(), instruction_tuned() ? std::optional(chat_template()) : std::nullopt);
  std::vector<eval::HarnessResult> results;
  for (const auto& t : loaded) results.push_back(eval::run_harness_task(lm, t, options));
  return {"harness", eval::harness_json(results, options), eval::harness_table(results)};
}

}  // namespace cornerstone
