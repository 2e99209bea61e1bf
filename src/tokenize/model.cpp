#include "tokenize/model.h"

#include "tokenize/bpe_model.h"
#include "tokenize/wordpiece_model.h"

namespace cornerstone::tokenize {

std::unique_ptr<Model> Model::from_json(const Json& json, const std::string& path, bool byte_level) {
  as_object(json, path);
  std::string type;
  if (optional_field(json, "type", path)) {
    type = component_type(json, path);
  } else if (json.contains("merges")) {
    type = "BPE";  // files from before the "type" tag was written
  } else if (json.contains("max_input_chars_per_word")) {
    type = "WordPiece";
  } else {
    fail(path, "missing required field 'type' (\"BPE\" or \"WordPiece\")");
  }
  if (type == "BPE") return BpeModel::from_json(json, path, byte_level);
  if (type == "WordPiece") return WordPieceModel::from_json(json, path);
  unsupported_component(path, "model", type, "BPE, WordPiece");
}

}  // namespace cornerstone::tokenize
