// Token shards: the on-disk form of a tokenized corpus, memory-mapped for training.
//
// A shard is a 64-byte header followed by the tokens as little-endian uint16 (vocabularies up to
// 65,536) or uint32:
//
//   offset  size  field
//   0       8     magic "CSTOKENS"
//   8       4     version (1)
//   12      4     bytes per token (2 or 4)
//   16      8     token count
//   24      8     document count
//   32      8     vocabulary size
//   40      24    reserved (zero)
//
// Documents are concatenated, each followed by the end-of-text token, as GPT-2 was trained (by
// [SEP] for BERT's WordPiece vocabulary).
// Shards are written to a temporary file and renamed when complete.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace cornerstone::data {

struct ShardHeader {
  uint32_t version = 1;
  uint32_t token_bytes = 2;
  uint64_t tokens = 0;
  uint64_t documents = 0;
  uint64_t vocab_size = 0;
};

inline uint32_t token_bytes_for_vocab(uint64_t vocab_size) { return vocab_size <= 65536 ? 2 : 4; }

class TokenShardWriter {
 public:
  TokenShardWriter(std::string path, uint64_t vocab_size);
  ~TokenShardWriter();  // an unfinished shard is removed
  TokenShardWriter(const TokenShardWriter&) = delete;
  TokenShardWriter& operator=(const TokenShardWriter&) = delete;

  // Appends one document's tokens (the caller appends the end-of-text token).
  void append_document(const std::vector<int32_t>& tokens);
  uint64_t tokens() const { return header_.tokens; }
  // Writes the header, fsyncs and renames into place.
  void finish();

 private:
  std::string path_, tmp_;
  ShardHeader header_;
  void* file_ = nullptr;
  bool finished_ = false;
};

// One memory-mapped shard, validated on open (magic, version, size against the token count).
class TokenShard {
 public:
  static TokenShard open(const std::string& path);
  const ShardHeader& header() const { return header_; }
  uint64_t size() const { return header_.tokens; }
  // Copies tokens [begin, begin + n) into out as int32.
  void read(uint64_t begin, uint64_t n, int32_t* out) const;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  ShardHeader header_;
  std::shared_ptr<void> mapping_;
  const unsigned char* tokens_ = nullptr;
};

// All shards of one split ("train" or "val") of a prepared data folder, seen as one token stream.
class TokenDataset {
 public:
  // Opens DIR/<split>-*.bin in name order; throws FormatError / IOError naming the file, and
  // ValueError when the split has no tokens.
  static TokenDataset open(const std::string& dir, const std::string& split);

  uint64_t size() const { return total_; }
  uint64_t vocab_size() const { return vocab_size_; }
  size_t num_shards() const { return shards_.size(); }
  // Tokens [begin, begin + n) of the concatenated stream (may span shards).
  void read(uint64_t begin, uint64_t n, int32_t* out) const;

 private:
  std::vector<TokenShard> shards_;
  std::vector<uint64_t> starts_;  // first global index of each shard
  uint64_t total_ = 0, vocab_size_ = 0;
};

}  // namespace cornerstone::data
