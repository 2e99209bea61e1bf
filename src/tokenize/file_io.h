// Whole-file reads and atomic writes with errors that name the file (internal).
#pragma once

#include <string>
#include <string_view>

namespace cornerstone::tokenize {

// Throws IOError("cannot read PATH: reason").
std::string read_file(const std::string& path);

// Writes `content` to a temporary file beside `path`, fsyncs it, renames it over `path` and
// fsyncs the folder: readers see the old file or the new one, never a partial one.
void write_file_atomic(const std::string& path, std::string_view content);

}  // namespace cornerstone::tokenize
