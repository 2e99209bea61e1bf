#include "cornerstone/interop/convert.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "cornerstone/core/error.h"
#include "cornerstone/io/atomic_file.h"
#include "cornerstone/io/gguf.h"
#include "cornerstone/io/safetensors.h"
#include "cornerstone/io/safetensors_checkpoint.h"
#include "cornerstone/io/staged_folder.h"
#include "cornerstone/interop/gguf_tokenizer.h"
#include "cornerstone/interop/hf_folder.h"
#include "cornerstone/interop/open_model.h"
#include "cornerstone/models/family.h"
#include "cornerstone/models/load.h"

namespace cornerstone::interop {

namespace fs = std::filesystem;

namespace {

uint64_t size_of(const fs::path& p) {
  std::error_code ec;
  const auto n = fs::file_size(p, ec);
  return ec ? 0 : n;
}

void write_json(const fs::path& p, const nlohmann::json& j) { io::write_file_atomic(p.string(), j.dump(2) + "\n"); }

// Files of a folder (sorted) and their total size.
void list_folder(const std::string& dir, ConvertReport& r) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) {
    names.push_back(e.path().filename().string());
    r.bytes += size_of(e.path());
  }
  std::sort(names.begin(), names.end());
  r.files = names;
}

// The model's Hugging Face tensors in `type` (f32, bf16, f16).
std::vector<std::pair<std::string, Tensor>> hf_tensors_in(const models::PretrainedModel& model, DType type) {
  auto tensors = model.hf_state_dict();
  if (type != DType::F32)
    for (auto& [name, t] : tensors) t = t.to(type);
  return tensors;
}

void export_hf(const models::PretrainedModel& model, const tokenize::Tokenizer* tok, const std::string& out, const ExportOptions& o,
               ConvertReport& r) {
  if (o.type != DType::F32 && o.type != DType::BF16 && o.type != DType::F16)
    throw ValueError("--type " + std::string(dtype_name(o.type)) +
                     " is not a Hugging Face checkpoint type (f32, f16, bf16 are); quantized types need --format gguf");
  io::StagedFolder dir(out);
  const fs::path d(dir.path());
  io::save_safetensors_checkpoint(dir.path(), hf_tensors_in(model, o.type), o.shard_bytes, {{"format", "pt"}});
  nlohmann::json config = model.hf_config();
  config["torch_dtype"] = torch_dtype_name(o.type);
  add_hf_special_tokens(config, special_tokens(tok));
  write_json(d / "config.json", config);
  write_json(d / "generation_config.json", hf_generation_config(special_tokens(tok)));
  if (tok) {
    tok->save((d / "tokenizer.json").string());
    write_json(d / "tokenizer_config.json", tokenizer_config(*tok, model.max_positions()));
  } else {
    r.notes.push_back("no tokenizer found: the folder has no tokenizer.json (pass --tokenizer)");
  }
  list_folder(dir.path(), r);
  dir.commit();
}

void export_gguf(const models::PretrainedModel& model, const tokenize::Tokenizer* tok, const std::string& out, const ExportOptions& o,
                 ConvertReport& r) {
  std::error_code ec;
  if (fs::is_directory(out, ec)) throw IOError("--out '" + out + "' is a folder; GGUF export writes a file, e.g. " + out + "/model.gguf");
  if (fs::exists(out, ec)) throw IOError("'" + out + "' already exists; remove it or choose another --out");
  const fs::path parent = fs::path(out).parent_path();
  if (!parent.empty()) fs::create_directories(parent);
  io::GGUFWriter w;
  const auto notes = model.family().to_gguf(model, o.type, o.name.empty() ? "cornerstone" : o.name, w);
  r.notes.insert(r.notes.end(), notes.begin(), notes.end());
  if (tok) {
    const auto tn = add_tokenizer_to_gguf(*tok, model.config().vocabulary_size(), w, {o.embed_tokenizer_json});
    r.notes.insert(r.notes.end(), tn.begin(), tn.end());
  } else {
    w.set("tokenizer.ggml.model", io::GGUFValue::string("no_vocab"));
    r.notes.push_back("no tokenizer found: the GGUF has no vocabulary and llama.cpp cannot tokenize text (pass --tokenizer)");
  }
  w.write(out);
  r.files = {fs::path(out).filename().string()};
  r.bytes = size_of(out);
}

std::string read_text(const fs::path& p) { return io::read_file(p.string()); }

// A model read by an importer, with its tokenizer when the source has one.
struct Imported {
  std::unique_ptr<models::PretrainedModel> model;
  std::optional<tokenize::Tokenizer> tokenizer;
};

void check_tokenizer_fits(const Imported& m, const std::string& from) {
  if (m.tokenizer && m.tokenizer->vocab_size() > m.model->config().vocabulary_size())
    throw FormatError(from + ": the tokenizer has " + std::to_string(m.tokenizer->vocab_size()) +
                      " tokens but the model's embedding only " + std::to_string(m.model->config().vocabulary_size()) + " rows");
}

// Reads a Hugging Face folder; copies its tokenizer and generation config files into `out`.
Imported import_hf(const std::string& from, const fs::path& out, ConvertReport& r) {
  Imported m;
  m.model = models::load_model(from);
  auto& tok = m.tokenizer;
  const fs::path src(from);
  const bool has_tokenizer = fs::exists(src / "tokenizer.json") || fs::exists(src / "vocab.json") ||
                             fs::exists(src / "encoder.json") || fs::exists(src / "vocab.txt");
  if (has_tokenizer) {
    tok = tokenize::Tokenizer::load(from);
    if (fs::exists(src / "tokenizer.json")) io::write_file_atomic((out / "tokenizer.json").string(), read_text(src / "tokenizer.json"));
    else tok->save((out / "tokenizer.json").string());
    if (fs::exists(src / "tokenizer_config.json"))
      io::write_file_atomic((out / "tokenizer_config.json").string(), read_text(src / "tokenizer_config.json"));
  } else {
    r.notes.push_back("'" + from + "' has no tokenizer; the imported model has none either");
  }
  if (fs::exists(src / "generation_config.json"))
    io::write_file_atomic((out / "generation_config.json").string(), read_text(src / "generation_config.json"));
  check_tokenizer_fits(m, from);
  return m;
}

// Reads a GGUF file; writes its tokenizer (embedded or rebuilt) as `out`/tokenizer.json.
Imported import_gguf(const std::string& from, const fs::path& out, ConvertReport& r) {
  const io::GGUFFile f = io::GGUFFile::open(from);
  Imported m;
  m.model = models::family_of_gguf(f).from_gguf(f);
  const std::string json = tokenizer_json_from_gguf(f, &r.notes);
  if (json.empty()) {
    r.notes.push_back("'" + from + "' has no tokenizer; the imported model has none either");
    return m;
  }
  try {
    m.tokenizer = tokenize::Tokenizer::from_json(json);
  } catch (const Error& e) {
    throw FormatError(from + ": the embedded tokenizer does not load: " + e.what());
  }
  check_tokenizer_fits(m, from);
  io::write_file_atomic((out / "tokenizer.json").string(), json);
  return m;
}

}  // namespace

ExportFormat export_format_from_name(const std::string& name) {
  if (name == "hf") return ExportFormat::HF;
  if (name == "gguf") return ExportFormat::GGUF;
  throw ValueError("unknown export format '" + name + "' (expected hf or gguf)");
}

ConvertReport export_pretrained(const models::PretrainedModel& model, const tokenize::Tokenizer* tokenizer, const std::string& out,
                         const ExportOptions& options) {
  ConvertReport r;
  if (options.format == ExportFormat::HF) export_hf(model, tokenizer, out, options, r);
  else export_gguf(model, tokenizer, out, options, r);
  return r;
}

ConvertReport export_model(const std::string& model_dir, const std::string& out, const ExportOptions& options) {
  const auto model = models::load_model(model_dir);
  const std::string tp = options.tokenizer.empty() ? models::find_tokenizer(model_dir) : options.tokenizer;
  std::optional<tokenize::Tokenizer> tok;
  if (!tp.empty()) tok = tokenize::Tokenizer::load(tp);
  ExportOptions o = options;
  if (o.name.empty()) o.name = fs::absolute(fs::path(model_dir)).lexically_normal().filename().string();
  if (o.name.empty()) o.name = fs::absolute(fs::path(model_dir)).lexically_normal().parent_path().filename().string();
  return export_pretrained(*model, tok ? &*tok : nullptr, out, o);
}

ConvertReport import_model(const std::string& from, const std::string& out) {
  std::error_code ec;
  if (!fs::exists(from, ec)) throw IOError("'" + from + "' does not exist");
  const bool folder = fs::is_directory(from, ec);
  if (!folder && !is_gguf_file(from))
    throw FormatError("'" + from + "' is neither a GGUF file (it does not start with 'GGUF') nor a Hugging Face model folder");
  ConvertReport r;
  io::StagedFolder dir(out);  // refuses an existing non-empty OUT before any work
  const fs::path d(dir.path());
  const Imported m = folder ? import_hf(from, d, r) : import_gguf(from, d, r);
  const HfSpecialTokens specials = special_tokens(m.tokenizer ? &*m.tokenizer : nullptr);
  io::save_safetensors((d / "model.safetensors").string(), m.model->hf_state_dict(), {{"format", "pt"}});
  nlohmann::json config = m.model->hf_config();
  add_hf_special_tokens(config, specials);
  write_json(d / "config.json", config);
  if (!fs::exists(d / "generation_config.json")) write_json(d / "generation_config.json", hf_generation_config(specials));
  list_folder(dir.path(), r);
  dir.commit();
  return r;
}

}  // namespace cornerstone::interop
