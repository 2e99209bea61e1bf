#include "cornerstone/models/convert.h"

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
#include "cornerstone/models/gguf_tokenizer.h"
#include "cornerstone/models/gpt/gpt_gguf.h"
#include "cornerstone/models/gpt/gpt_hf.h"
#include "cornerstone/models/load.h"

namespace cornerstone::models {

namespace fs = std::filesystem;

namespace {

HfSpecialTokens special_tokens(const tokenize::Tokenizer* t) {
  if (!t) return {};
  return {t->bos_id(), t->eos_id(), t->pad_id()};
}

// tokenizer_config.json for transformers' AutoTokenizer: the fast tokenizer from tokenizer.json
// and the names of its special tokens.
nlohmann::json tokenizer_config(const tokenize::Tokenizer& t, int64_t context) {
  nlohmann::json j = {{"tokenizer_class", "PreTrainedTokenizerFast"},
                      {"model_max_length", context},
                      {"clean_up_tokenization_spaces", false}};
  auto name = [&](const char* key, std::optional<int32_t> id) {
    if (id) j[key] = t.id_to_token(*id);
  };
  name("bos_token", t.bos_id());
  name("eos_token", t.eos_id());
  name("unk_token", t.unk_id());
  name("pad_token", t.pad_id());
  return j;
}

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

void export_hf(const GPT& model, const tokenize::Tokenizer* tok, const std::string& out, const ExportOptions& o,
               ConvertReport& r) {
  if (o.type != DType::F32 && o.type != DType::BF16 && o.type != DType::F16)
    throw ValueError("--type " + std::string(dtype_name(o.type)) +
                     " is not a Hugging Face checkpoint type (f32, f16, bf16 are); quantized types need --format gguf");
  io::StagedFolder dir(out);
  const fs::path d(dir.path());
  io::save_safetensors_checkpoint(dir.path(), hf_state_dict(model, o.type), o.shard_bytes, {{"format", "pt"}});
  nlohmann::json config = hf_config(model.config(), o.type);
  add_hf_special_tokens(config, special_tokens(tok));
  write_json(d / "config.json", config);
  write_json(d / "generation_config.json", hf_generation_config(special_tokens(tok)));
  if (tok) {
    tok->save((d / "tokenizer.json").string());
    write_json(d / "tokenizer_config.json", tokenizer_config(*tok, model.config().context));
  } else {
    r.notes.push_back("no tokenizer found: the folder has no tokenizer.json (pass --tokenizer)");
  }
  list_folder(dir.path(), r);
  dir.commit();
}

void export_gguf(const GPT& model, const tokenize::Tokenizer* tok, const std::string& out, const ExportOptions& o,
                 ConvertReport& r) {
  std::error_code ec;
  if (fs::is_directory(out, ec)) throw IOError("--out '" + out + "' is a folder; GGUF export writes a file, e.g. " + out + "/model.gguf");
  if (fs::exists(out, ec)) throw IOError("'" + out + "' already exists; remove it or choose another --out");
  const fs::path parent = fs::path(out).parent_path();
  if (!parent.empty()) fs::create_directories(parent);
  io::GGUFWriter w;
  const auto notes = add_gpt_to_gguf(model, o.type, o.name.empty() ? "cornerstone" : o.name, w);
  r.notes.insert(r.notes.end(), notes.begin(), notes.end());
  if (tok) {
    const auto tn = add_tokenizer_to_gguf(*tok, model.config().vocab_size, w, {o.embed_tokenizer_json});
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
  std::unique_ptr<GPT> model;
  std::optional<tokenize::Tokenizer> tokenizer;
};

void check_tokenizer_fits(const Imported& m, const std::string& from) {
  if (m.tokenizer && m.tokenizer->vocab_size() > m.model->config().vocab_size)
    throw FormatError(from + ": the tokenizer has " + std::to_string(m.tokenizer->vocab_size()) +
                      " tokens but the model's embedding only " + std::to_string(m.model->config().vocab_size) + " rows");
}

// Reads a Hugging Face folder; copies its tokenizer and generation config files into `out`.
Imported import_hf(const std::string& from, const fs::path& out, ConvertReport& r) {
  Imported m;
  m.model = load_gpt(from);
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
  m.model = gpt_from_gguf(f);
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

ConvertReport export_gpt(const GPT& model, const tokenize::Tokenizer* tokenizer, const std::string& out,
                         const ExportOptions& options) {
  ConvertReport r;
  if (options.format == ExportFormat::HF) export_hf(model, tokenizer, out, options, r);
  else export_gguf(model, tokenizer, out, options, r);
  return r;
}

ConvertReport export_model(const std::string& model_dir, const std::string& out, const ExportOptions& options) {
  const auto model = load_gpt(model_dir);
  const std::string tp = options.tokenizer.empty() ? find_tokenizer(model_dir) : options.tokenizer;
  std::optional<tokenize::Tokenizer> tok;
  if (!tp.empty()) tok = tokenize::Tokenizer::load(tp);
  ExportOptions o = options;
  if (o.name.empty()) o.name = fs::absolute(fs::path(model_dir)).lexically_normal().filename().string();
  if (o.name.empty()) o.name = fs::absolute(fs::path(model_dir)).lexically_normal().parent_path().filename().string();
  return export_gpt(*model, tok ? &*tok : nullptr, out, o);
}

ConvertReport import_model(const std::string& from, const std::string& out) {
  std::error_code ec;
  if (!fs::exists(from, ec)) throw IOError("'" + from + "' does not exist");
  const bool folder = fs::is_directory(from, ec);
  if (!folder) {
    std::ifstream in(from, std::ios::binary);
    char magic[4] = {};
    in.read(magic, 4);
    if (std::string(magic, 4) != "GGUF")
      throw FormatError("'" + from + "' is neither a GGUF file (it does not start with 'GGUF') nor a Hugging Face model folder");
  }
  ConvertReport r;
  io::StagedFolder dir(out);  // refuses an existing non-empty OUT before any work
  const fs::path d(dir.path());
  const Imported m = folder ? import_hf(from, d, r) : import_gguf(from, d, r);
  const HfSpecialTokens specials = special_tokens(m.tokenizer ? &*m.tokenizer : nullptr);
  io::save_safetensors((d / "model.safetensors").string(), hf_state_dict(*m.model), {{"format", "pt"}});
  nlohmann::json config = hf_config(m.model->config());
  add_hf_special_tokens(config, specials);
  write_json(d / "config.json", config);
  if (!fs::exists(d / "generation_config.json")) write_json(d / "generation_config.json", hf_generation_config(specials));
  list_folder(dir.path(), r);
  dir.commit();
  return r;
}

}  // namespace cornerstone::models
