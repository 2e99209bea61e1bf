// tokenizer.json <-> Tokenizer.
#include <algorithm>

#include "cornerstone/core/error.h"
#include "tokenize/tokenizer_impl.h"

namespace cornerstone::tokenize {

namespace {

std::unique_ptr<Tokenizer::Impl> read_components(const Json& root, std::vector<AddedToken>& added_tokens) {
  as_object(root, "");
  auto impl = std::make_unique<Tokenizer::Impl>();
  if (const Json* n = optional_field(root, "normalizer", "")) impl->normalizer = Normalizer::from_json(*n, "normalizer");
  if (const Json* p = optional_field(root, "pre_tokenizer", ""))
    impl->pre_tokenizer = PreTokenizer::from_json(*p, "pre_tokenizer");
  impl->byte_level = impl->pre_tokenizer && impl->pre_tokenizer->is_byte_level();
  impl->model = Model::from_json(field(root, "model", ""), "model", impl->byte_level);
  if (const Json* p = optional_field(root, "post_processor", ""))
    impl->post_processor = PostProcessor::from_json(*p, "post_processor");
  if (const Json* d = optional_field(root, "decoder", "")) impl->decoder = Decoder::from_json(*d, "decoder");
  if (const Json* t = optional_field(root, "truncation", ""); t && !t->is_null())
    throw UnsupportedError("truncation: built-in truncation is not supported by Cornerstone; set it "
                           "to null and truncate the ids yourself");
  if (const Json* a = optional_field(root, "added_tokens", "")) {
    as_array(*a, "added_tokens");
    for (size_t i = 0; i < a->size(); ++i)
      added_tokens.push_back(AddedToken::from_json((*a)[i], index_path("added_tokens", i)));
  }
  return impl;
}

}  // namespace

// The components' errors name a JSON path ("model.merges[12]: ..."); they gain the file's name here.
std::unique_ptr<Tokenizer::Impl> impl_from_json(const Json& root, std::vector<AddedToken>& added_tokens) {
  try {
    return read_components(root, added_tokens);
  } catch (const UnsupportedError& e) {
    throw UnsupportedError(std::string("tokenizer.json: ") + e.what());
  } catch (const FormatError& e) {
    throw FormatError(std::string("tokenizer.json: ") + e.what());
  }
}

namespace {

// Reads a role from tokenizer_config.json: "eos_token": "</s>" or {"content": "</s>", ...}.
std::optional<std::string> config_token(const Json& config, const char* key) {
  auto it = config.find(key);
  if (it == config.end()) return std::nullopt;
  if (it->is_string()) return it->get<std::string>();
  if (it->is_object() && it->contains("content") && (*it)["content"].is_string())
    return (*it)["content"].get<std::string>();
  return std::nullopt;
}

}  // namespace

std::shared_ptr<const Tokenizer::Impl> finish_impl(std::unique_ptr<Tokenizer::Impl> impl,
                                                   std::vector<AddedToken> added_tokens, const Json* config) {
  int64_t size = impl->model->vocab_size();
  for (const auto& t : added_tokens) size = std::max<int64_t>(size, int64_t{t.id} + 1);
  impl->vocab_size = size;
  impl->added = AddedVocabulary(std::move(added_tokens), impl->normalizer.get());

  auto lookup = [&](const std::string& token) -> std::optional<int32_t> {
    if (const AddedToken* a = impl->added.find(token)) return a->id;
    return impl->model->token_to_id(token);
  };
  struct RoleNames {
    SpecialRole role;
    const char* config_key;
    std::vector<std::string> usual;
  };
  const std::vector<RoleNames> roles = {
      {SpecialRole::Bos, "bos_token", {"<s>", "<|begin_of_text|>", "<|startoftext|>", "<bos>", "[BOS]"}},
      {SpecialRole::Eos, "eos_token", {"</s>", "<|endoftext|>", "<|end_of_text|>", "<eos>", "[EOS]"}},
      {SpecialRole::Pad, "pad_token", {"<pad>", "[PAD]", "<|pad|>"}},
      {SpecialRole::Unk, "unk_token", {"<unk>", "[UNK]", "<|unk|>"}},
      {SpecialRole::Cls, "cls_token", {"[CLS]", "<cls>"}},
      {SpecialRole::Sep, "sep_token", {"[SEP]", "<sep>"}},
      {SpecialRole::Mask, "mask_token", {"[MASK]", "<mask>"}},
  };
  const std::optional<std::string> model_unk = impl->model->unk_token();
  for (const auto& r : roles) {
    std::optional<int32_t> id;
    if (config != nullptr && config->is_object()) {
      if (auto name = config_token(*config, r.config_key)) id = lookup(*name);
    } else {
      if (r.role == SpecialRole::Unk && model_unk) id = lookup(*model_unk);
      for (size_t k = 0; !id && k < r.usual.size(); ++k) id = lookup(r.usual[k]);
    }
    impl->specials[static_cast<size_t>(r.role)] = id;
  }
  return std::shared_ptr<const Tokenizer::Impl>(std::move(impl));
}

Tokenizer Tokenizer::from_json(std::string_view json) {
  Json root = Json::parse(json.begin(), json.end(), nullptr, /*allow_exceptions=*/false);
  if (root.is_discarded()) {
    // Parse again with exceptions for the position of the error.
    try {
      root = Json::parse(json.begin(), json.end());
    } catch (const Json::exception& e) {
      throw FormatError(std::string("tokenizer.json: not valid JSON: ") + e.what() +
                        "; check that the file is complete and not truncated");
    }
  }
  std::vector<AddedToken> added;
  auto impl = impl_from_json(root, added);
  return Tokenizer(finish_impl(std::move(impl), std::move(added), nullptr));
}

std::string Tokenizer::to_json() const {
  const Impl& t = *impl_;
  OrderedJson root;
  root["version"] = "1.0";
  root["truncation"] = nullptr;
  root["padding"] = nullptr;
  OrderedJson added = OrderedJson::array();
  std::vector<AddedToken> tokens = t.added.tokens();
  std::sort(tokens.begin(), tokens.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
  for (const auto& a : tokens) added.push_back(a.to_json());
  root["added_tokens"] = std::move(added);
  root["normalizer"] = t.normalizer ? t.normalizer->to_json() : OrderedJson(nullptr);
  root["pre_tokenizer"] = t.pre_tokenizer ? t.pre_tokenizer->to_json() : OrderedJson(nullptr);
  root["post_processor"] = t.post_processor ? t.post_processor->to_json() : OrderedJson(nullptr);
  root["decoder"] = t.decoder ? t.decoder->to_json() : OrderedJson(nullptr);
  root["model"] = t.model->to_json();
  return root.dump(2, ' ', /*ensure_ascii=*/false, OrderedJson::error_handler_t::strict);
}

}  // namespace cornerstone::tokenize
