// `cornerstone prepare`: tokenize a corpus into train/val token shards.
#include <cstdio>

#include "command.h"
#include "cornerstone/data/prepare.h"
#include "cornerstone/tokenize/tokenizer.h"

namespace {

void add_prepare(CLI::App& app) {
  auto* cmd = app.add_subcommand("prepare", "Tokenize text files into token shards for pretraining");
  static std::string tokenizer, out;
  static std::vector<std::string> inputs;
  static double val_fraction = 0.05;
  cmd->add_option("--tokenizer", tokenizer, "tokenizer.json, a folder holding one, GPT-2 encoder.json + vocab.bpe, or vocab.txt")
      ->required();
  cmd->add_option("--input", inputs, "Text files, folders, globs or .gz files (repeatable)")->required();
  cmd->add_option("--out", out, "Output folder (train-*.bin, val-*.bin, tokenizer.json, meta.json)")->required();
  cmd->add_option("--val-fraction", val_fraction, "Share of documents held out for validation")->capture_default_str();
  cmd->callback([] {
    using namespace cornerstone;
    const auto tok = tokenize::Tokenizer::load(tokenizer);
    data::PrepareOptions o;
    o.val_fraction = val_fraction;
    const auto s = data::prepare(tok, inputs, out, o);
    std::printf("%lld documents (%lld for validation), %.1f MB -> %lld train + %lld val tokens (%.2f bytes/token) in %lld shards, %.1f s\n",
                static_cast<long long>(s.documents), static_cast<long long>(s.val_documents), s.bytes / 1e6,
                static_cast<long long>(s.train_tokens), static_cast<long long>(s.val_tokens),
                static_cast<double>(s.bytes) / static_cast<double>(std::max<int64_t>(1, s.train_tokens + s.val_tokens)),
                static_cast<long long>(s.shards), s.seconds);
  });
}

}  // namespace

CORNERSTONE_COMMAND(add_prepare, 20)
