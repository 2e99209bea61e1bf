#include "tokenize/components.h"

#include "cornerstone/core/error.h"

namespace cornerstone::tokenize {

std::string component_type(const Json& object, const std::string& path) { return get_string(object, "type", path); }

void unsupported_component(const std::string& path, std::string_view kind, std::string_view type, std::string_view supported) {
  throw UnsupportedError(path + ": " + std::string(kind) + " type '" + std::string(type) + "' is not supported by Cornerstone (supported: " +
                         std::string(supported) + ")");
}

}  // namespace cornerstone::tokenize
