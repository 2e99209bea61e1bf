// The weights of a Hugging Face model folder, in either of its two layouts:
//
//   model.safetensors                                  one file
//   model-00001-of-00003.safetensors ...               shards, listed by
//   model.safetensors.index.json                       {"metadata": {"total_size": N},
//                                                       "weight_map": {"<tensor>": "<shard file>"}}
//
// Reading looks tensors up across the shards (each memory-mapped, io/safetensors.h); writing
// splits the tensors into shards of at most a given size, in order, as transformers'
// save_pretrained(max_shard_size=...) does.
//
//   auto w = SafeTensorsCheckpoint::open("Llama-tiny/");   // either layout
//   Tensor q = w.get("model.layers.0.self_attn.q_proj.weight");
//   save_safetensors_checkpoint("out/", tensors, 2'000'000'000);   // shards of <= 2 GB
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "cornerstone/io/safetensors.h"

namespace cornerstone::io {

inline constexpr const char* kSafeTensorsSingle = "model.safetensors";
inline constexpr const char* kSafeTensorsIndex = "model.safetensors.index.json";

class SafeTensorsCheckpoint {
 public:
  // True when `folder` holds model.safetensors or model.safetensors.index.json.
  static bool exists(const std::string& folder);
  // Opens model.safetensors when present (as transformers does), else the index and every shard
  // it names. Throws FormatError naming the index key or shard at fault (a tensor missing from
  // the shard the index names, a shard file that is absent, a file name that leaves the folder).
  static SafeTensorsCheckpoint open(const std::string& folder);

  bool sharded() const { return sharded_; }
  // The files read, in index order (one for the single-file layout).
  std::vector<std::string> files() const;
  // Tensor names in file order.
  std::vector<std::string> names() const;
  bool contains(const std::string& name) const { return where_.count(name) != 0; }
  const SafeTensorInfo& info(const std::string& name) const;
  // A view of the tensor (dtypes as SafeTensorsFile::get).
  Tensor get(const std::string& name) const;
  // The file holding a tensor (for messages).
  const std::string& file_of(const std::string& name) const;

 private:
  bool sharded_ = false;
  std::vector<SafeTensorsFile> files_;
  std::vector<std::string> order_;
  std::map<std::string, size_t> where_;
};

// Writes `tensors` into the existing `folder`: model.safetensors when max_shard_bytes is 0 or
// everything fits in one shard, else model-0000i-of-0000n.safetensors (a new shard starts when the
// next tensor would overflow the current one; a tensor larger than the limit gets a shard of its
// own) and model.safetensors.index.json. Each file is written atomically. Returns the file names.
std::vector<std::string> save_safetensors_checkpoint(const std::string& folder,
                                                     const std::vector<std::pair<std::string, Tensor>>& tensors,
                                                     uint64_t max_shard_bytes = 0,
                                                     const std::map<std::string, std::string>& metadata = {});

// Parses a size such as "2GB", "500MB", "1.5GiB", "123456" (bytes); throws ValueError naming the
// text. Decimal units (KB, MB, GB) are powers of 1000 as in transformers, binary ones (KiB, MiB,
// GiB) powers of 1024.
uint64_t parse_byte_size(const std::string& text);

}  // namespace cornerstone::io
