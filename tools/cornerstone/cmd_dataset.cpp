// `cornerstone dataset`: build the labelled JSONL sets of the adaptation examples.
#include <cstdio>

#include "command.h"
#include "cornerstone/core/error.h"
#include "cornerstone/io/staged_folder.h"
#include "emoji_set.h"
#include "labelled_sets.h"
#include "retrieval_set.h"

namespace {

struct ArithmeticFlags {
  cornerstone::data::ArithmeticOptions problems;
  std::vector<std::string> ops;
  std::string style = "direct";
};

void add_dataset(CLI::App& app) {
  auto* cmd = app.add_subcommand("dataset", "Build labelled JSONL sets (train/val/test) from the real corpora, or Brown's plain text");
  static std::string kind, source, out;
  static cornerstone::data::SplitOptions o;
  cmd->add_option("kind", kind, "spam | brown-pos | brown-genre | sotu-qa (instruction pairs) | brown-text (untagged, one .txt per "
                  "document, for pretraining) | linux-doc (a retrieval benchmark: corpus, title queries, triples) | arithmetic "
                  "(synthetic problems: instruction pairs, verifiable answers and preference pairs; no --source) | emoji (colour "
                  "emoji images with their names and groups: image classification and captions)")
      ->required()->check(CLI::IsMember({"spam", "brown-pos", "brown-genre", "sotu-qa", "brown-text", "linux-doc", "arithmetic", "emoji"}));
  cmd->add_option("--source", source, "The package folder printed by `scripts/fetch spam` (or brown, sotu); linux-doc: "
                  "/usr/share/doc/linux-doc-6.1/Documentation; emoji: the font (default: Debian's NotoColorEmoji.ttf); arithmetic: none");
  cmd->add_option("--out", out, "Output folder")->required();
  cmd->add_option("--seed", o.seed, "Seed of the split")->capture_default_str();
  cmd->add_option("--val-fraction", o.val_fraction)->capture_default_str();
  cmd->add_option("--test-fraction", o.test_fraction)->capture_default_str();
  cmd->add_option("--max-chars", o.max_chars, "Cut texts to this many bytes")->capture_default_str();
  static int64_t queries = 300;
  cmd->add_option("--queries", queries, "linux-doc: documents held out as queries")->capture_default_str();
  static ArithmeticFlags arithmetic;
  cmd->add_option("--ops", arithmetic.ops, "arithmetic: operations (add, sub, mul; comma-separated; default: all three)")
      ->delimiter(',')
      ->check(CLI::IsMember({"add", "sub", "mul"}));
  cmd->add_option("--min-digits", arithmetic.problems.min_digits, "arithmetic: fewest digits per operand")->capture_default_str();
  cmd->add_option("--max-digits", arithmetic.problems.max_digits, "arithmetic: most digits per operand (at most 9)")->capture_default_str();
  cmd->add_option("--count", arithmetic.problems.count, "arithmetic: distinct problems over all splits")->capture_default_str();
  cmd->add_option("--style", arithmetic.style, "arithmetic: responses as direct answers (\"Answer: 132\") or worked steps "
                  "(chain of thought ending in the same marker)")->check(CLI::IsMember({"direct", "steps"}))->capture_default_str();
  static int64_t image_size = 32, limit = 0, vocab_size = 1024;
  cmd->add_option("--size", image_size, "emoji: image width and height in pixels")->capture_default_str();
  cmd->add_option("--limit", limit, "emoji: at most this many emoji (default: all)");
  cmd->add_option("--vocab-size", vocab_size, "emoji: tokens of the captions' BPE tokenizer (tokenizer.json), trained on the train split")
      ->capture_default_str();
  cmd->callback([] {
    using namespace cornerstone::data;
    if (kind == "linux-doc") {
      if (source.empty()) throw cornerstone::ValueError("dataset linux-doc needs --source (the package folder `scripts/fetch` prints)");
      RetrievalSetOptions r;
      r.seed = o.seed;
      r.queries = queries;
      const auto s = make_linux_doc_set(source, out, r);  // a new folder, staged by the set itself
      std::printf("linux-doc: %lld documents in %s/corpus, %lld queries, %lld train and %lld val triples\n", static_cast<long long>(s.documents),
                  out.c_str(), static_cast<long long>(s.queries), static_cast<long long>(s.train), static_cast<long long>(s.val));
      return;
    }
    // Every set is written into a staging folder that replaces OUT in one rename
    // (io/staged_folder.h): a reader sees the old set or the new one, never a new train split
    // beside an old test split (which could hold the new training problems). Files in OUT that no
    // set writes are kept.
    cornerstone::io::StagedFolder staged(out, cornerstone::io::StagedFolder::Existing::Replace, [](const std::string& n) {
      auto ends = [&](const std::string& e) { return n.size() >= e.size() && n.compare(n.size() - e.size(), e.size(), e) == 0; };
      return ends(".jsonl") || ends(".txt") || n == "images" || n == "tokenizer.json";
    });
    const std::string dir = staged.path();
    if (kind == "arithmetic") {
      if (!source.empty()) throw cornerstone::ValueError("dataset arithmetic makes its problems; it takes no --source");
      ArithmeticOptions p = arithmetic.problems;
      if (!arithmetic.ops.empty()) {
        p.ops.clear();
        for (const auto& name : arithmetic.ops) p.ops.push_back(arithmetic_op_from_name(name));
      }
      p.seed = o.seed;
      const SplitSummary s = make_arithmetic_set(p, arithmetic.style == "steps", dir, o);
      staged.commit();
      std::printf("arithmetic (%s): %lld train, %lld val, %lld test problems in %s ({split}.jsonl, {split}.answers.jsonl, "
                  "{split}.pairs.jsonl)\n", arithmetic.style.c_str(), static_cast<long long>(s.train), static_cast<long long>(s.val),
                  static_cast<long long>(s.test), out.c_str());
      return;
    }
    if (kind == "emoji") {
      EmojiSetOptions e;
      if (!source.empty()) e.font = source;
      e.size = image_size, e.limit = limit, e.seed = o.seed, e.val_fraction = o.val_fraction, e.test_fraction = o.test_fraction;
      e.vocab_size = vocab_size;
      const auto s = make_emoji_set(dir, e);
      staged.commit();
      std::printf("emoji: %lld train, %lld val, %lld test images in %s (%lld groups; %lld listed emoji the font does not draw)\n",
                  static_cast<long long>(s.train), static_cast<long long>(s.val), static_cast<long long>(s.test), out.c_str(),
                  static_cast<long long>(s.groups), static_cast<long long>(s.skipped));
      return;
    }
    if (source.empty()) throw cornerstone::ValueError("dataset " + kind + " needs --source (the package folder `scripts/fetch` prints)");
    if (kind == "brown-text") {
      const int64_t n = write_brown_text(source, dir);
      staged.commit();
      std::printf("brown-text: %lld documents in %s\n", static_cast<long long>(n), out.c_str());
      return;
    }
    const SplitSummary s = kind == "spam" ? make_spam_set(source, dir, o)
                           : kind == "brown-pos" ? make_brown_pos_set(source, dir, o)
                           : kind == "sotu-qa"   ? make_sotu_qa_set(source, dir, o)
                                                 : make_brown_genre_set(source, dir, o);
    staged.commit();
    std::printf("%s: %lld train, %lld val, %lld test examples in %s\n", kind.c_str(), static_cast<long long>(s.train),
                static_cast<long long>(s.val), static_cast<long long>(s.test), out.c_str());
  });
}

}  // namespace

CORNERSTONE_COMMAND(add_dataset, 45)
