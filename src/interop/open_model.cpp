#include "cornerstone/interop/open_model.h"

#include <filesystem>
#include <fstream>

#include "cornerstone/core/error.h"
#include "cornerstone/interop/gguf_tokenizer.h"
#include "cornerstone/io/gguf.h"
#include "cornerstone/models/family.h"
#include "cornerstone/models/load.h"

namespace cornerstone::interop {

namespace fs = std::filesystem;

bool is_gguf_file(const std::string& path) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) return false;
  std::ifstream in(path, std::ios::binary);
  char magic[4] = {};
  in.read(magic, 4);
  return in.gcount() == 4 && std::string(magic, 4) == "GGUF";
}

OpenedModel open_pretrained(const std::string& path, const std::vector<std::string>& also_present) {
  OpenedModel out;
  std::error_code ec;
  if (!fs::exists(path, ec)) throw IOError("model '" + path + "' does not exist");
  if (fs::is_directory(path, ec)) {
    out.model = std::shared_ptr<models::PretrainedModel>(models::load_model(path, also_present));
    const std::string tok = models::find_tokenizer(path);
    if (!tok.empty()) out.tokenizer = tokenize::Tokenizer::load(tok);
    return out;
  }
  if (!is_gguf_file(path))
    throw FormatError("'" + path + "' is neither a model folder (config.json + model.safetensors) nor a GGUF file");
  const io::GGUFFile f = io::GGUFFile::open(path);
  out.model = std::shared_ptr<models::PretrainedModel>(models::family_of_gguf(f).from_gguf(f));
  const std::string json = tokenizer_json_from_gguf(f);
  if (!json.empty()) out.tokenizer = tokenize::Tokenizer::from_json(json);
  return out;
}

}  // namespace cornerstone::interop
