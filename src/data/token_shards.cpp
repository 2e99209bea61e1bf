#include "cornerstone/data/token_shards.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "cornerstone/core/checked.h"
#include "cornerstone/core/error.h"
#include "cornerstone/io/mapped_file.h"

namespace cornerstone::data {

namespace {

constexpr char kMagic[8] = {'C', 'S', 'T', 'O', 'K', 'E', 'N', 'S'};
constexpr size_t kHeaderBytes = 64;

void encode_header(const ShardHeader& h, unsigned char* out) {
  std::memset(out, 0, kHeaderBytes);
  std::memcpy(out, kMagic, 8);
  std::memcpy(out + 8, &h.version, 4);
  std::memcpy(out + 12, &h.token_bytes, 4);
  std::memcpy(out + 16, &h.tokens, 8);
  std::memcpy(out + 24, &h.documents, 8);
  std::memcpy(out + 32, &h.vocab_size, 8);
}

FILE* as_file(void* f) { return static_cast<FILE*>(f); }

}  // namespace

// ---- writer -------------------------------------------------------------------------------------------

TokenShardWriter::TokenShardWriter(std::string path, uint64_t vocab_size) : path_(std::move(path)) {
  header_.vocab_size = vocab_size;
  header_.token_bytes = token_bytes_for_vocab(vocab_size);
  tmp_ = path_ + ".tmp." + std::to_string(getpid());
  file_ = std::fopen(tmp_.c_str(), "wb");
  if (!file_) throw IOError("cannot create '" + tmp_ + "': " + std::strerror(errno));
  unsigned char blank[kHeaderBytes] = {};
  std::fwrite(blank, 1, kHeaderBytes, as_file(file_));  // the real header is written by finish()
}

TokenShardWriter::~TokenShardWriter() {
  if (file_) std::fclose(as_file(file_));
  if (!finished_) std::remove(tmp_.c_str());
}

void TokenShardWriter::append_document(const std::vector<int32_t>& tokens) {
  for (int32_t t : tokens)
    if (t < 0 || static_cast<uint64_t>(t) >= header_.vocab_size)
      throw ValueError(path_ + ": token id " + std::to_string(t) + " outside the vocabulary of " +
                       std::to_string(header_.vocab_size));
  bool ok;
  if (header_.token_bytes == 2) {
    std::vector<uint16_t> buf(tokens.begin(), tokens.end());
    ok = std::fwrite(buf.data(), 2, buf.size(), as_file(file_)) == buf.size();
  } else {
    ok = std::fwrite(tokens.data(), 4, tokens.size(), as_file(file_)) == tokens.size();
  }
  if (!ok) throw IOError("cannot write '" + tmp_ + "': " + std::strerror(errno));
  header_.tokens += tokens.size();
  ++header_.documents;
}

void TokenShardWriter::finish() {
  unsigned char h[kHeaderBytes];
  encode_header(header_, h);
  FILE* f = as_file(file_);
  if (std::fseek(f, 0, SEEK_SET) != 0 || std::fwrite(h, 1, kHeaderBytes, f) != kHeaderBytes || std::fflush(f) != 0 ||
      fsync(fileno(f)) != 0)
    throw IOError("cannot finish '" + tmp_ + "': " + std::strerror(errno));
  std::fclose(f);
  file_ = nullptr;
  if (std::rename(tmp_.c_str(), path_.c_str()) != 0) throw IOError("cannot rename onto '" + path_ + "': " + std::strerror(errno));
  finished_ = true;
}

// ---- one shard -------------------------------------------------------------------------------------

TokenShard TokenShard::open(const std::string& path) {
  TokenShard s;
  s.path_ = path;
  const io::MappedFile file = io::map_file(path, "token shard");
  const size_t size = file.size;
  if (size < kHeaderBytes)
    throw FormatError(path + ": " + std::to_string(size) + " bytes is too short for a token shard header (truncated?)");
  s.mapping_ = file.mapping;
  const auto* p = reinterpret_cast<const unsigned char*>(file.data);
  if (std::memcmp(p, kMagic, 8) != 0) throw FormatError(path + ": not a token shard (bad magic; expected CSTOKENS)");
  std::memcpy(&s.header_.version, p + 8, 4);
  std::memcpy(&s.header_.token_bytes, p + 12, 4);
  std::memcpy(&s.header_.tokens, p + 16, 8);
  std::memcpy(&s.header_.documents, p + 24, 8);
  std::memcpy(&s.header_.vocab_size, p + 32, 8);
  if (s.header_.version != 1)
    throw FormatError(path + ": token shard version " + std::to_string(s.header_.version) + " is not supported (1 is)");
  if (s.header_.token_bytes != 2 && s.header_.token_bytes != 4)
    throw FormatError(path + ": bytes per token " + std::to_string(s.header_.token_bytes) + " (expected 2 or 4)");
  // Checked: 2^63 tokens of 2 bytes would wrap to a 64-byte "need" that a bare header matches.
  uint64_t need = 0;
  if (mul_overflows(s.header_.tokens, s.header_.token_bytes, &need) || add_overflows(need, kHeaderBytes, &need) || need != size)
    throw FormatError(path + ": header says " + std::to_string(s.header_.tokens) + " tokens (" + std::to_string(need) +
                      " bytes) but the file has " + std::to_string(size) + " bytes (truncated or corrupt)");
  s.tokens_ = p + kHeaderBytes;
  return s;
}

void TokenShard::read(uint64_t begin, uint64_t n, int32_t* out) const {
  if (!range_within(begin, n, header_.tokens)) throw ValueError(path_ + ": read past the end of the shard");
  if (n == 0) return;  // `out` may be null then (an empty vector's data()), and memcpy(null, ..., 0) is undefined
  if (header_.token_bytes == 2) {
    const auto* t = reinterpret_cast<const uint16_t*>(tokens_) + begin;
    for (uint64_t i = 0; i < n; ++i) out[i] = t[i];
  } else {
    std::memcpy(out, tokens_ + begin * 4, n * 4);
  }
}

// ---- a split -------------------------------------------------------------------------------------------

TokenDataset TokenDataset::open(const std::string& dir, const std::string& split) {
  namespace fs = std::filesystem;
  if (!fs::is_directory(dir)) throw IOError("data folder '" + dir + "' does not exist (run `cornerstone prepare` first)");
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (name.rfind(split + "-", 0) == 0 && e.path().extension() == ".bin") files.push_back(e.path().string());
  }
  std::sort(files.begin(), files.end());
  TokenDataset d;
  for (const auto& f : files) {
    TokenShard s = TokenShard::open(f);
    if (d.vocab_size_ && s.header().vocab_size != d.vocab_size_)
      throw FormatError(f + ": vocabulary size " + std::to_string(s.header().vocab_size) + " differs from the other shards (" +
                        std::to_string(d.vocab_size_) + ")");
    d.vocab_size_ = s.header().vocab_size;
    d.starts_.push_back(d.total_);
    d.total_ += s.size();
    d.shards_.push_back(std::move(s));
  }
  if (d.total_ == 0) throw ValueError("data folder '" + dir + "' has no " + split + " tokens (" + split + "-*.bin)");
  return d;
}

void TokenDataset::read(uint64_t begin, uint64_t n, int32_t* out) const {
  if (!range_within(begin, n, total_)) throw ValueError("token dataset: read [" + std::to_string(begin) + ", +" + std::to_string(n) + ") past the end (" + std::to_string(total_) + ")");
  size_t s = static_cast<size_t>(std::upper_bound(starts_.begin(), starts_.end(), begin) - starts_.begin()) - 1;
  while (n > 0) {
    const uint64_t local = begin - starts_[s];
    const uint64_t take = std::min(n, shards_[s].size() - local);
    shards_[s].read(local, take, out);
    out += take, begin += take, n -= take, ++s;
  }
}

}  // namespace cornerstone::data
