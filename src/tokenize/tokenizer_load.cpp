// Tokenizer::load: tokenizer.json files and folders, GPT-2's encoder.json + vocab.bpe, BERT's
// vocab.txt; Tokenizer::save.
#include <filesystem>
#include <limits>

#include "cornerstone/core/error.h"
#include "tokenize/bpe_model.h"
#include "cornerstone/io/atomic_file.h"
#include "tokenize/tokenizer_impl.h"
#include "tokenize/wordpiece_model.h"

namespace cornerstone::tokenize {

namespace fs = std::filesystem;

namespace {

Json parse_json_file(const std::string& path) {
  const std::string text = io::read_file(path);
  try {
    return Json::parse(text);
  } catch (const Json::exception& e) {
    throw FormatError(path + ": not valid JSON: " + e.what() + "; check that the file is complete");
  }
}

// tokenizer_config.json beside `file`, if any.
std::optional<Json> sibling_config(const fs::path& file) {
  const fs::path config = file.parent_path() / "tokenizer_config.json";
  if (!fs::exists(config)) return std::nullopt;
  try {
    return Json::parse(io::read_file(config.string()));
  } catch (const Json::exception& e) {
    throw FormatError(config.string() + ": not valid JSON: " + e.what());
  }
}

Tokenizer load_tokenizer_json(const fs::path& file) {
  const std::string text = io::read_file(file.string());
  Json root = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (root.is_discarded()) {
    try {
      root = Json::parse(text);
    } catch (const Json::exception& e) {
      throw FormatError(file.string() + ": not valid JSON: " + e.what() +
                        "; check that the file is complete and not truncated");
    }
  }
  std::vector<AddedToken> added;
  std::unique_ptr<Tokenizer::Impl> impl;
  try {
    impl = impl_from_json(root, added);
  } catch (const FormatError& e) {
    throw FormatError(file.string() + ": " + e.what());
  } catch (const UnsupportedError& e) {
    throw UnsupportedError(file.string() + ": " + e.what());
  }
  const std::optional<Json> config = sibling_config(file);
  return Tokenizer(finish_impl(std::move(impl), std::move(added), config ? &*config : nullptr));
}

// GPT-2: encoder.json {token: id} and vocab.bpe ("#version" line, then "left right" merges).
Tokenizer load_gpt2(const fs::path& encoder_path, const fs::path& merges_path) {
  const Json encoder = parse_json_file(encoder_path.string());
  if (!encoder.is_object()) throw FormatError(encoder_path.string() + ": expected an object {token: id}");
  BpeConfig config;
  config.byte_level = true;
  for (const auto& [token, id] : encoder.items()) {
    // An id of 2^32 - 1 cast to int32 is -1: refuse ids beyond int32 before the cast.
    if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() > std::numeric_limits<int32_t>::max())
      throw FormatError(encoder_path.string() + ": entry '" + token + "': expected an integer id in [0, 2^31), got " + id.dump());
    config.vocab.emplace_back(token, static_cast<int32_t>(id.get<int64_t>()));
  }
  const std::string text = io::read_file(merges_path.string());
  size_t line_no = 0;
  for (size_t pos = 0; pos < text.size();) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(pos, end - pos);
    pos = end + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || (line_no == 1 && line.rfind("#version", 0) == 0)) continue;
    const size_t space = line.find(' ');
    if (space == std::string::npos || space == 0 || space + 1 == line.size() ||
        line.find(' ', space + 1) != std::string::npos)
      throw FormatError(merges_path.string() + ":" + std::to_string(line_no) +
                        ": expected a merge \"left right\", got \"" + line + "\"");
    config.merges.emplace_back(line.substr(0, space), line.substr(space + 1));
  }
  auto impl = std::make_unique<Tokenizer::Impl>();
  impl->pre_tokenizer = make_byte_level_pre_tokenizer(/*add_prefix_space=*/false, /*use_regex=*/true);
  impl->byte_level = true;
  impl->decoder = make_byte_level_decoder();
  try {
    impl->model = std::make_unique<BpeModel>(std::move(config), "model");
  } catch (const FormatError& e) {
    throw FormatError(merges_path.string() + " / " + encoder_path.string() + ": " + e.what());
  }
  std::vector<AddedToken> added;
  if (auto eot = impl->model->token_to_id("<|endoftext|>"))
    added.push_back(AddedToken{"<|endoftext|>", *eot, /*special=*/true, false, false, false, /*normalized=*/false});
  return Tokenizer(finish_impl(std::move(impl), std::move(added), nullptr));
}

// BERT: vocab.txt, one token per line, id = line number - 1.
Tokenizer load_bert_vocab(const fs::path& vocab_path) {
  const std::string text = io::read_file(vocab_path.string());
  WordPieceConfig config;
  bool has_upper = false;
  int32_t id = 0;
  for (size_t pos = 0; pos < text.size(); ++id) {
    if (id == std::numeric_limits<int32_t>::max())
      throw FormatError(vocab_path.string() + ": more than 2^31 - 1 lines; token ids are 32-bit");
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    std::string token = text.substr(pos, end - pos);
    pos = end + 1;
    if (!token.empty() && token.back() == '\r') token.pop_back();
    if (!(token.size() > 2 && token.front() == '[' && token.back() == ']'))
      for (char c : token) has_upper |= (c >= 'A' && c <= 'Z');
    config.vocab.emplace_back(std::move(token), id);
  }
  if (config.vocab.empty()) throw FormatError(vocab_path.string() + ": the vocabulary is empty");
  // Cased or uncased: tokenizer_config.json's do_lower_case when present, else an uncased
  // vocabulary is one without capital letters.
  bool lowercase = !has_upper;
  const std::optional<Json> tok_config = sibling_config(vocab_path);
  if (tok_config && tok_config->is_object() && tok_config->contains("do_lower_case") &&
      (*tok_config)["do_lower_case"].is_boolean())
    lowercase = (*tok_config)["do_lower_case"].get<bool>();

  auto impl = std::make_unique<Tokenizer::Impl>();
  impl->normalizer = make_bert_normalizer(true, true, -1, lowercase);
  impl->pre_tokenizer = make_bert_pre_tokenizer();
  impl->decoder = make_wordpiece_decoder("##", true);
  try {
    impl->model = std::make_unique<WordPieceModel>(std::move(config), "model");
  } catch (const FormatError& e) {
    throw FormatError(vocab_path.string() + ": " + e.what());
  }
  std::vector<AddedToken> added;
  for (const char* s : {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"})
    if (auto sid = impl->model->token_to_id(s)) added.push_back(AddedToken{s, *sid, true, false, false, false, false});
  const auto cls = impl->model->token_to_id("[CLS]");
  const auto sep = impl->model->token_to_id("[SEP]");
  if (cls && sep) impl->post_processor = make_template_processor({{"[CLS]", *cls}}, {{"[SEP]", *sep}});
  return Tokenizer(finish_impl(std::move(impl), std::move(added), tok_config ? &*tok_config : nullptr));
}

}  // namespace

Tokenizer Tokenizer::load(const std::string& path) {
  const fs::path p(path);
  std::error_code ec;
  if (fs::is_directory(p, ec)) {
    if (fs::exists(p / "tokenizer.json")) return load_tokenizer_json(p / "tokenizer.json");
    if (fs::exists(p / "encoder.json") && fs::exists(p / "vocab.bpe")) return load_gpt2(p / "encoder.json", p / "vocab.bpe");
    // The same two files under the names Hugging Face model folders use.
    if (fs::exists(p / "vocab.json") && fs::exists(p / "merges.txt")) return load_gpt2(p / "vocab.json", p / "merges.txt");
    if (fs::exists(p / "vocab.txt")) return load_bert_vocab(p / "vocab.txt");
    throw IOError("cannot load a tokenizer from " + path +
                  ": the folder holds no tokenizer.json, no encoder.json + vocab.bpe (or vocab.json + merges.txt) "
                  "and no vocab.txt");
  }
  if (!fs::exists(p, ec))
    throw IOError("cannot load a tokenizer from " + path + ": no such file or folder");
  const std::string name = p.filename().string();
  if (name == "encoder.json" || name == "vocab.bpe") {
    const fs::path dir = p.parent_path();
    if (!fs::exists(dir / "encoder.json") || !fs::exists(dir / "vocab.bpe"))
      throw IOError("cannot load a GPT-2 tokenizer from " + path + ": encoder.json and vocab.bpe must sit side by side");
    return load_gpt2(dir / "encoder.json", dir / "vocab.bpe");
  }
  if (name == "vocab.json" || name == "merges.txt") {
    const fs::path dir = p.parent_path();
    if (!fs::exists(dir / "vocab.json") || !fs::exists(dir / "merges.txt"))
      throw IOError("cannot load a GPT-2 tokenizer from " + path + ": vocab.json and merges.txt must sit side by side");
    return load_gpt2(dir / "vocab.json", dir / "merges.txt");
  }
  if (p.extension() == ".txt") return load_bert_vocab(p);
  return load_tokenizer_json(p);
}

void Tokenizer::save(const std::string& path) const { io::write_file_atomic(path, to_json()); }

}  // namespace cornerstone::tokenize
