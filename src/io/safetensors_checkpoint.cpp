#include "cornerstone/io/safetensors_checkpoint.h"

#include <cctype>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "cornerstone/core/error.h"
#include "cornerstone/io/atomic_file.h"

namespace cornerstone::io {

namespace fs = std::filesystem;

bool SafeTensorsCheckpoint::exists(const std::string& folder) {
  return fs::exists(fs::path(folder) / kSafeTensorsSingle) || fs::exists(fs::path(folder) / kSafeTensorsIndex);
}

SafeTensorsCheckpoint SafeTensorsCheckpoint::open(const std::string& folder) {
  SafeTensorsCheckpoint c;
  const fs::path single = fs::path(folder) / kSafeTensorsSingle;
  if (fs::exists(single)) {
    c.files_.push_back(SafeTensorsFile::open(single.string()));
    for (const auto& n : c.files_[0].names()) {
      c.where_.emplace(n, 0);
      c.order_.push_back(n);
    }
    return c;
  }
  const std::string index_path = (fs::path(folder) / kSafeTensorsIndex).string();
  if (!fs::exists(index_path))
    throw IOError("'" + folder + "' has neither " + kSafeTensorsSingle + " nor " + kSafeTensorsIndex);
  c.sharded_ = true;
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(read_file(index_path));
  } catch (const nlohmann::json::exception& e) {
    throw FormatError(index_path + ": not valid JSON: " + e.what());
  }
  if (!j.is_object() || !j.contains("weight_map") || !j["weight_map"].is_object())
    throw FormatError(index_path + ": expected an object with a 'weight_map' object {tensor: shard file}");
  std::map<std::string, size_t> shard_of_file;
  for (auto it = j["weight_map"].begin(); it != j["weight_map"].end(); ++it) {
    const std::string where = index_path + ": weight_map['" + it.key() + "']";
    if (!it->is_string()) throw FormatError(where + " must be a file name string, is " + it->dump());
    const std::string file = it->get<std::string>();
    if (file.empty() || file.find('/') != std::string::npos || file == "." || file == "..")
      throw FormatError(where + " = '" + file + "' is not a file name inside the folder");
    auto s = shard_of_file.find(file);
    if (s == shard_of_file.end()) {
      const fs::path p = fs::path(folder) / file;
      if (!fs::exists(p)) throw FormatError(where + " names shard '" + file + "', which is missing from '" + folder + "'");
      s = shard_of_file.emplace(file, c.files_.size()).first;
      c.files_.push_back(SafeTensorsFile::open(p.string()));
    }
    if (!c.files_[s->second].contains(it.key()))
      throw FormatError(where + ": shard '" + file + "' has no tensor named '" + it.key() + "'");
    c.where_.emplace(it.key(), s->second);
  }
  for (const auto& f : c.files_)
    for (const auto& n : f.names())
      if (c.where_.count(n) && &c.files_[c.where_.at(n)] == &f) c.order_.push_back(n);
  return c;
}

std::vector<std::string> SafeTensorsCheckpoint::files() const {
  std::vector<std::string> out;
  for (const auto& f : files_) out.push_back(f.path());
  return out;
}

std::vector<std::string> SafeTensorsCheckpoint::names() const { return order_; }

const std::string& SafeTensorsCheckpoint::file_of(const std::string& name) const {
  auto it = where_.find(name);
  if (it == where_.end()) throw FormatError("no tensor named '" + name + "' in " + files_.front().path());
  return files_[it->second].path();
}

const SafeTensorInfo& SafeTensorsCheckpoint::info(const std::string& name) const {
  file_of(name);  // throws naming the tensor when absent
  return files_[where_.at(name)].info(name);
}

Tensor SafeTensorsCheckpoint::get(const std::string& name) const {
  file_of(name);  // throws naming the tensor when absent
  return files_[where_.at(name)].get(name);
}

std::vector<std::string> save_safetensors_checkpoint(const std::string& folder,
                                                     const std::vector<std::pair<std::string, Tensor>>& tensors,
                                                     uint64_t max_shard_bytes,
                                                     const std::map<std::string, std::string>& metadata) {
  // Greedy split in order.
  std::vector<std::vector<std::pair<std::string, Tensor>>> shards(1);
  uint64_t current = 0, total = 0;
  for (const auto& nt : tensors) {
    const uint64_t n = nt.second.nbytes();
    if (max_shard_bytes && !shards.back().empty() && current + n > max_shard_bytes) {
      shards.emplace_back();
      current = 0;
    }
    shards.back().push_back(nt);
    current += n;
    total += n;
  }
  if (shards.size() == 1) {
    save_safetensors((fs::path(folder) / kSafeTensorsSingle).string(), tensors, metadata);
    return {kSafeTensorsSingle};
  }
  std::vector<std::string> files;
  nlohmann::ordered_json weight_map = nlohmann::ordered_json::object();
  for (size_t i = 0; i < shards.size(); ++i) {
    char name[64];
    std::snprintf(name, sizeof name, "model-%05zu-of-%05zu.safetensors", i + 1, shards.size());
    save_safetensors((fs::path(folder) / name).string(), shards[i], metadata);
    for (const auto& [n, t] : shards[i]) weight_map[n] = name;
    files.push_back(name);
  }
  nlohmann::ordered_json index = {{"metadata", {{"total_size", total}}}, {"weight_map", weight_map}};
  write_file_atomic((fs::path(folder) / kSafeTensorsIndex).string(), index.dump(2) + "\n");
  files.push_back(kSafeTensorsIndex);
  return files;
}

uint64_t parse_byte_size(const std::string& text) {
  size_t i = 0;
  while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.')) ++i;
  std::string unit = text.substr(i);
  for (auto& ch : unit) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  double scale = 0;
  if (unit.empty() || unit == "B") scale = 1;
  else if (unit == "KB") scale = 1e3;
  else if (unit == "MB") scale = 1e6;
  else if (unit == "GB") scale = 1e9;
  else if (unit == "KIB") scale = 1024.0;
  else if (unit == "MIB") scale = 1024.0 * 1024;
  else if (unit == "GIB") scale = 1024.0 * 1024 * 1024;
  double number = 0;
  try {
    size_t used = 0;
    number = i ? std::stod(text.substr(0, i), &used) : -1;
    if (used != i) number = -1;
  } catch (const std::exception&) {
    number = -1;
  }
  if (scale == 0 || number <= 0 || !std::isfinite(number) || number * scale >= 9.2e18)  // llround's range
    throw ValueError("size '" + text + "' is not understood; write e.g. 2GB, 500MB, 1.5GiB or a number of bytes");
  return static_cast<uint64_t>(std::llround(number * scale));
}

}  // namespace cornerstone::io
