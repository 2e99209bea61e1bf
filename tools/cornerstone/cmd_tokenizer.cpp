// `cornerstone tokenizer encode|decode|train`: thin wrappers over cornerstone::tokenize.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include "command.h"
#include "cornerstone/core/error.h"
#include "cornerstone/tokenize/bpe_trainer.h"
#include "cornerstone/tokenize/tokenizer.h"

namespace {

namespace fs = std::filesystem;
using cornerstone::tokenize::Tokenizer;

std::string read_stdin() {
  std::ios::sync_with_stdio(false);
  return std::string(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
}

// Whitespace- or comma-separated ids, optionally inside a JSON array.
std::vector<int32_t> parse_ids(const std::string& text) {
  std::vector<int32_t> ids;
  std::string token;
  size_t index = 0;
  auto flush = [&] {
    if (token.empty()) return;
    ++index;
    size_t used = 0;
    long long v = 0;
    try {
      v = std::stoll(token, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != token.size() || v < 0 || v > INT32_MAX)
      throw cornerstone::ValueError("tokenizer decode: input item " + std::to_string(index) + " ('" + token +
                                    "') is not a token id; give non-negative integers separated by spaces");
    ids.push_back(static_cast<int32_t>(v));
    token.clear();
  };
  for (char c : text) {
    if (c == ' ' || c == '\n' || c == '\t' || c == '\r' || c == ',' || c == '[' || c == ']') flush();
    else token.push_back(c);
  }
  flush();
  return ids;
}

// Every regular file under each path (folders recursively, in name order).
std::vector<std::string> corpus_files(const std::vector<std::string>& paths) {
  std::vector<std::string> files;
  for (const auto& p : paths) {
    if (fs::is_directory(p)) {
      std::vector<std::string> found;
      for (const auto& e : fs::recursive_directory_iterator(p))
        if (e.is_regular_file()) found.push_back(e.path().string());
      std::sort(found.begin(), found.end());
      files.insert(files.end(), found.begin(), found.end());
    } else if (fs::exists(p)) {
      files.push_back(p);
    } else {
      throw cornerstone::IOError("tokenizer train: corpus path " + p + " does not exist");
    }
  }
  if (files.empty()) throw cornerstone::ValueError("tokenizer train: the corpus paths hold no files");
  return files;
}

void add_tokenizer(CLI::App& app) {
  auto* cmd = app.add_subcommand("tokenizer", "Encode, decode and train tokenizers (tokenizer.json, GPT-2, BERT)");
  cmd->require_subcommand(1);

  // encode
  auto* enc = cmd->add_subcommand("encode", "Print the token ids of a text (from --text or stdin)");
  static std::string enc_path, enc_text;
  static bool enc_json = false, enc_special = false, enc_lines = false;
  enc->add_option("--tokenizer", enc_path, "tokenizer.json, a folder, GPT-2 encoder.json+vocab.bpe, or vocab.txt")
      ->required();
  auto* text_opt = enc->add_option("--text", enc_text, "Text to encode (default: read stdin)");
  enc->add_flag("--json", enc_json, "Print a JSON array");
  enc->add_flag("--add-special", enc_special, "Apply the post-processor (BOS / CLS ... SEP)");
  enc->add_flag("--lines", enc_lines, "Encode each line of the input on its own: one line of ids per line of text");
  enc->callback([text_opt] {
    const Tokenizer tok = Tokenizer::load(enc_path);
    const std::string text = text_opt->count() ? enc_text : read_stdin();
    auto print = [&](std::string_view t) {
      const std::vector<int32_t> ids = tok.encode(t, enc_special);
      std::string out = enc_json ? "[" : "";
      for (size_t i = 0; i < ids.size(); ++i) {
        if (i) out += enc_json ? ", " : " ";
        out += std::to_string(ids[i]);
      }
      if (enc_json) out += "]";
      std::printf("%s\n", out.c_str());
    };
    if (!enc_lines) return print(text);
    for (size_t begin = 0; begin < text.size();) {
      size_t end = text.find('\n', begin);
      if (end == std::string::npos) end = text.size();
      std::string_view line(text.data() + begin, end - begin);
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      print(line);
      begin = end + 1;
    }
  });

  // decode
  auto* dec = cmd->add_subcommand("decode", "Print the text of token ids read from stdin");
  static std::string dec_path;
  static bool dec_skip = false;
  dec->add_option("--tokenizer", dec_path, "tokenizer.json, a folder, GPT-2 encoder.json+vocab.bpe, or vocab.txt")
      ->required();
  dec->add_flag("--skip-special", dec_skip, "Leave out special tokens");
  dec->callback([] {
    const Tokenizer tok = Tokenizer::load(dec_path);
    const std::string text = tok.decode(parse_ids(read_stdin()), dec_skip);
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fputc('\n', stdout);
  });

  // train
  auto* tr = cmd->add_subcommand("train", "Train a byte-level BPE tokenizer and write DIR/tokenizer.json");
  static std::vector<std::string> tr_corpus, tr_special;
  static int64_t tr_vocab = 32000, tr_min_freq = 0;
  static std::string tr_out;
  tr->add_option("--corpus", tr_corpus, "Text files or folders of text files")->required();
  tr->add_option("--vocab-size", tr_vocab, "Vocabulary size: special tokens + 256 bytes + merges")->required();
  tr->add_option("--out", tr_out, "Output folder (created if needed)")->required();
  tr->add_option("--special", tr_special, "Special tokens, given ids 0, 1, ... in order");
  tr->add_option("--min-frequency", tr_min_freq, "Never merge a pair seen fewer times (default 0: merge until --vocab-size)");
  tr->callback([] {
    cornerstone::tokenize::BpeTrainerOptions opt;
    opt.vocab_size = tr_vocab;
    opt.special_tokens = tr_special;
    opt.min_frequency = tr_min_freq;
    cornerstone::tokenize::BpeTrainerReport report;
    const auto files = corpus_files(tr_corpus);
    const auto t0 = std::chrono::steady_clock::now();
    const Tokenizer tok = cornerstone::tokenize::train_bpe(files, opt, &report);
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::error_code ec;
    fs::create_directories(tr_out, ec);
    if (ec) throw cornerstone::IOError("tokenizer train: cannot create " + tr_out + ": " + ec.message());
    const std::string out = (fs::path(tr_out) / "tokenizer.json").string();
    tok.save(out);
    std::printf("trained %lld tokens (%lld merges) on %zu files, %.1f MB, %lld words (%lld distinct) in %.2f s "
                "(count %.2f s, merge %.2f s)\nwrote %s\n",
                static_cast<long long>(tok.vocab_size()), static_cast<long long>(report.merges), files.size(),
                report.bytes / 1e6, static_cast<long long>(report.words), static_cast<long long>(report.distinct_words),
                secs, report.count_seconds, report.merge_seconds, out.c_str());
    if (tok.vocab_size() < tr_vocab)
      std::printf("note: stopped below --vocab-size %lld: no adjacent pair occurs %lld or more times any more\n",
                  static_cast<long long>(tr_vocab), static_cast<long long>(std::max<int64_t>(tr_min_freq, 1)));
  });
}

}  // namespace

CORNERSTONE_COMMAND(add_tokenizer, 200)
