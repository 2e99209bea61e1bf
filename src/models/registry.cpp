#include <algorithm>
#include <map>

#include "cornerstone/core/error.h"
#include "cornerstone/io/gguf.h"
#include "cornerstone/models/family.h"
#include "cornerstone/models/pretrained.h"

namespace cornerstone::models {

namespace {

// Families by name. A function-local static: registrations run during static initialisation, in
// an order between translation units that C++ leaves open.
std::map<std::string, const Family*>& registry() {
  static std::map<std::string, const Family*> r;
  return r;
}

std::string joined(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

std::vector<std::string> all_archs() {
  std::vector<std::string> out;
  for (const Family* f : families())
    for (const auto& a : f->archs()) out.push_back(a);
  return out;
}

bool contains(const std::vector<std::string>& v, const std::string& x) { return std::find(v.begin(), v.end(), x) != v.end(); }

}  // namespace

FamilyRegistration::FamilyRegistration(const Family& family) { registry()[family.name()] = &family; }

void ModelConfig::validate_from(const std::string& source) const {
  try {
    validate();
  } catch (const ValueError& e) {
    throw ValueError(source + ": " + e.what());  // which file said so
  }
}

std::unique_ptr<PretrainedModel> Family::create_for_loading(const ModelConfig& c) const { return c.create(0, /*random_init=*/false); }

std::unique_ptr<PretrainedModel> Family::from_gguf(const io::GGUFFile&) const {
  throw UnsupportedError("the " + name() + " family has no GGUF layout");
}

std::vector<std::string> Family::to_gguf(const PretrainedModel&, DType, const std::string&, io::GGUFWriter&) const {
  throw UnsupportedError("the " + name() + " family has no GGUF layout (export it as a Hugging Face folder: --format hf)");
}

std::vector<const Family*> families() {
  std::vector<const Family*> out;
  for (const auto& [name, f] : registry()) out.push_back(f);
  return out;
}

const Family& family_of_arch(const std::string& arch, const std::string& where) {
  for (const Family* f : families())
    if (contains(f->archs(), arch)) return *f;
  throw ValueError(where + ": unknown arch '" + arch + "' (known: " + joined(all_archs()) + ")");
}

const Family& family_of_hf_config(const nlohmann::json& config, const std::string& source) {
  if (!config.is_object()) throw FormatError(source + ": expected a JSON object");
  if (config.contains("model_type") && !config["model_type"].is_string())
    throw FormatError(source + ": model_type must be a string, got " + config["model_type"].dump());
  const std::string type = config.value("model_type", "gpt2");
  std::vector<std::string> known;
  for (const Family* f : families()) {
    if (contains(f->hf_model_types(), type)) return *f;
    for (const auto& t : f->hf_model_types()) known.push_back(t);
  }
  throw UnsupportedError(source + ": model_type '" + type + "' is not supported (Cornerstone runs: " + joined(known) + ")");
}

const Family* family_of_gguf_arch(const std::string& arch) {
  for (const Family* f : families())
    if (contains(f->gguf_archs(), arch)) return f;
  return nullptr;
}

const Family& family_of_gguf(const io::GGUFFile& f) {
  const std::string& arch = f.get_string("general.architecture");
  if (const Family* family = family_of_gguf_arch(arch)) return *family;
  std::vector<std::string> known;
  for (const Family* fam : families())
    for (const auto& a : fam->gguf_archs()) known.push_back(a);
  throw UnsupportedError(f.where("general.architecture") + " is '" + arch + "', which Cornerstone does not run (" + joined(known) +
                         " are)");
}

std::vector<std::string> model_preset_names() {
  std::vector<std::string> out;
  for (const Family* f : families())
    for (const auto& p : f->presets()) out.push_back(p);
  std::sort(out.begin(), out.end());
  return out;
}

const Family* family_of_preset(const std::string& name) {
  for (const Family* f : families())
    if (contains(f->presets(), name)) return f;
  return nullptr;
}

std::unique_ptr<ModelConfig> model_config_from_json(const nlohmann::json& j, const std::string& where) {
  if (j.is_string()) {
    const std::string name = j.get<std::string>();
    if (const Family* f = family_of_preset(name)) return f->preset(name);
    throw ValueError(where + ": unknown model preset '" + name + "' (presets: " + joined(model_preset_names()) + ")");
  }
  if (!j.is_object()) throw ValueError(where + ": expected a preset name or an object with \"arch\", got " + j.dump());
  if (j.contains("arch") && !j["arch"].is_string())
    throw ValueError(where + ".arch: expected one of " + joined(all_archs()) + ", got " + j["arch"].dump());
  const std::string arch = j.value("arch", "gpt2");
  return family_of_arch(arch, where + ".arch").config_from_json(j, where);
}

std::unique_ptr<ModelConfig> model_config_from_hf(const nlohmann::json& j, const std::string& source) {
  return family_of_hf_config(j, source).config_from_hf(j, source);
}

}  // namespace cornerstone::models
