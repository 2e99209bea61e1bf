// `cornerstone tokenizer encode | decode | train` end to end through the built CLI.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "reference.h"

namespace {

using cornerstone::testing::run_command;

std::string cli() {
  const char* p = std::getenv("CORNERSTONE_CLI");
  return p ? p : CORNERSTONE_BINARY_DIR "/cornerstone";
}

// Runs the CLI; returns {exit status, stdout + stderr}.
std::pair<int, std::string> run(const std::string& args) {
  const std::string cmd = cli() + " " + args + " 2>&1";
  FILE* pipe = ::popen(cmd.c_str(), "r");
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), pipe)) > 0) out.append(buf, n);
  const int status = ::pclose(pipe);
  return {WEXITSTATUS(status), out};
}

TEST(TokenizerCli, EncodeDecode) {
  const std::string gpt2 = cornerstone::testing::fetch("gpt2-tokenizer");
  EXPECT_EQ(run("tokenizer encode --tokenizer " + gpt2 + " --text 'Hello world!'"), std::make_pair(0, std::string("15496 995 0\n")));
  EXPECT_EQ(run("tokenizer encode --json --tokenizer " + gpt2 + " --text 'Hello world!'").second, "[15496, 995, 0]\n");
  EXPECT_EQ(run("tokenizer encode --tokenizer " + gpt2 + " < /dev/null").second, "\n");
  EXPECT_EQ(run_command("printf 'Hello world!' | " + cli() + " tokenizer encode --tokenizer " + gpt2), "15496 995 0\n");
  EXPECT_EQ(run_command("echo '15496 995 0' | " + cli() + " tokenizer decode --tokenizer " + gpt2), "Hello world!\n");
  const std::string bert = cornerstone::testing::bert_vocab_txt();
  EXPECT_EQ(run("tokenizer encode --add-special --tokenizer " + bert + " --text 'Hello world!'").second,
            "101 7592 2088 999 102\n");
}

TEST(TokenizerCli, Gpt2FilesUnderHuggingFaceNames) {
  const std::string gpt2 = cornerstone::testing::fetch("gpt2-tokenizer");
  cornerstone::testing::TempDir dir;
  run_command("cp " + gpt2 + "/encoder.json " + dir.path() + "/vocab.json && cp " + gpt2 + "/vocab.bpe " + dir.path() +
              "/merges.txt");
  EXPECT_EQ(run("tokenizer encode --tokenizer " + dir.path() + " --text 'Hello world!'").second, "15496 995 0\n");
  EXPECT_EQ(run("tokenizer encode --tokenizer " + dir.path() + "/merges.txt --text 'Hello world!'").second,
            "15496 995 0\n");
}

TEST(TokenizerCli, Train) {
  cornerstone::testing::TempDir dir;
  const std::string corpus = dir.path() + "/corpus.txt";
  std::ofstream(corpus) << "the cat sat on the mat\nthe dog sat on the log\n";
  const auto [status, out] = run("tokenizer train --corpus " + corpus + " --vocab-size 270 --min-frequency 1 --special '<|endoftext|>' --out " +
                                 dir.path() + "/tok");
  EXPECT_EQ(status, 0) << out;
  EXPECT_NE(out.find("trained 270 tokens"), std::string::npos) << out;
  EXPECT_EQ(run("tokenizer encode --tokenizer " + dir.path() + "/tok --text '<|endoftext|>'").second, "0\n");
}

TEST(TokenizerCli, ErrorsAreReportedNotCrashes) {
  cornerstone::testing::TempDir dir;
  const std::string bad = dir.path() + "/tokenizer.json";
  std::ofstream(bad) << R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": ["a b"]}})";
  auto [status, out] = run("tokenizer encode --tokenizer " + bad + " --text x");
  EXPECT_EQ(status, 1);
  EXPECT_NE(out.find("error: " + bad + ": tokenizer.json: model.merges[0]: token 'b' is not in model.vocab"),
            std::string::npos) << out;
  std::tie(status, out) = run("tokenizer encode --tokenizer /nonexistent --text x");
  EXPECT_EQ(status, 1);
  EXPECT_NE(out.find("error: cannot load a tokenizer from /nonexistent"), std::string::npos) << out;
  const std::string gpt2 = cornerstone::testing::fetch("gpt2-tokenizer");
  const std::string cmd = "echo '1 two 3' | " + cli() + " tokenizer decode --tokenizer " + gpt2 + " 2>&1; echo \"exit=$?\"";
  const std::string r = run_command(cmd);
  EXPECT_NE(r.find("error: tokenizer decode: input item 2 ('two') is not a token id"), std::string::npos) << r;
  EXPECT_NE(r.find("exit=1"), std::string::npos) << r;
}

}  // namespace
