// `cornerstone export` / `cornerstone import` end to end: a model pretrained by the CLI on real
// text goes out as Hugging Face (bf16, sharded) and GGUF (f32, q8_0), comes back in, and
// generates; f32 round trips generate exactly what the original does.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "cli.h"
#include "cornerstone/io/atomic_file.h"
#include "test_util.h"

using namespace cornerstone::testing;
namespace fs = std::filesystem;

namespace {

const char* kConfig = R"({
  "model": {"arch": "llama", "vocab_size": 320, "context": 64, "n_layers": 2, "d_model": 64, "n_heads": 4,
            "n_kv_heads": 2, "d_ff": 128, "tie_embeddings": false},
  "training": {"batch_size": 4, "steps": 20, "lr": 3e-3, "warmup_steps": 2, "eval_every": 20, "eval_batches": 1,
               "checkpoint_every": 20, "seed": 1}
})";

class InteropCli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(fresh_temp_dir("interop_cli"));
    const std::string sotu = fetch_dataset("sotu") + "/data";
    std::vector<std::string> files;
    for (const auto& e : fs::directory_iterator(sotu))
      if (e.path().extension() == ".txt") files.push_back(e.path().string());
    std::sort(files.begin(), files.end());
    files.resize(4);
    std::string corpus, inputs;
    for (const auto& f : files) corpus += " " + f, inputs += " --input " + f;
    auto r = run_cli("tokenizer train --corpus" + corpus + " --vocab-size 300 --special '<|endoftext|>' --out " + path("tok"));
    ASSERT_EQ(r.exit_code, 0) << r.output;
    r = run_cli("prepare --tokenizer " + path("tok") + inputs + " --val-fraction 0.1 --out " + path("data"));
    ASSERT_EQ(r.exit_code, 0) << r.output;
    std::ofstream(path("config.json")) << kConfig;
    r = run_cli("--threads 2 pretrain --config " + path("config.json") + " --data " + path("data") + " --out " + path("run"));
    ASSERT_EQ(r.exit_code, 0) << r.output;
  }
  static void TearDownTestSuite() {
    fs::remove_all(*dir_);
    delete dir_;
  }
  static std::string path(const std::string& p) { return *dir_ + "/" + p; }
  // Greedy text from a model folder (the generated part only).
  static std::string generate(const std::string& model) {
    const auto r = run_cli("generate --model " + model + " --prompt 'The Congress' --max-tokens 12 --greedy");
    EXPECT_EQ(r.exit_code, 0) << r.output;
    EXPECT_EQ(r.output.rfind("The Congress", 0), 0u) << r.output;
    return r.output;
  }
  static std::string* dir_;
};
std::string* InteropCli::dir_ = nullptr;

}  // namespace

TEST_F(InteropCli, ExportImportGenerate) {
  const std::string original = generate(path("run"));

  // Hugging Face, bf16, in shards.
  auto r = run_cli("export --model " + path("run") + " --format hf --type bf16 --shard-size 100KB --out " + path("hf"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("exported " + path("hf") + " (bf16"), std::string::npos) << r.output;
  EXPECT_TRUE(fs::exists(path("hf/model.safetensors.index.json")));
  EXPECT_TRUE(fs::exists(path("hf/tokenizer.json")));
  EXPECT_EQ(nlohmann::json::parse(cornerstone::io::read_file(path("hf/config.json")))["torch_dtype"], "bfloat16");
  r = run_cli("import --from " + path("hf") + " --out " + path("from-hf"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  generate(path("from-hf"));
  generate(path("hf"));  // generate reads the exported folder directly, too

  // Hugging Face f32 and GGUF f32: the same greedy text as the original.
  ASSERT_EQ(run_cli("export --model " + path("run") + " --format hf --out " + path("hf32")).exit_code, 0);
  ASSERT_EQ(run_cli("import --from " + path("hf32") + " --out " + path("from-hf32")).exit_code, 0);
  EXPECT_EQ(generate(path("from-hf32")), original);
  r = run_cli("export --model " + path("run") + " --format gguf --out " + path("m-f32.gguf"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  ASSERT_EQ(run_cli("import --from " + path("m-f32.gguf") + " --out " + path("from-gguf32")).exit_code, 0);
  EXPECT_EQ(generate(path("from-gguf32")), original);

  // GGUF q8_0: smaller, imports, generates.
  r = run_cli("export --model " + path("run") + " --format gguf --type q8_0 --out " + path("m-q8.gguf"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_LT(fs::file_size(path("m-q8.gguf")), fs::file_size(path("m-f32.gguf")) / 2);
  r = run_cli("import --from " + path("m-q8.gguf") + " --out " + path("from-q8"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("imported"), std::string::npos) << r.output;
  generate(path("from-q8"));
}

// export and quantize open their model through load(), so a GGUF file is as good an input as a
// folder: GGUF -> Hugging Face folder and GGUF -> q8_0 folder, each generating like the original.
TEST_F(InteropCli, ExportAndQuantizeTakeAGGUFFile) {
  const std::string original = generate(path("run"));
  auto r = run_cli("export --model " + path("run") + " --format gguf --out " + path("src.gguf"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = run_cli("export --model " + path("src.gguf") + " --format hf --out " + path("hf-from-gguf"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(fs::exists(path("hf-from-gguf/tokenizer.json"))) << "the tokenizer the GGUF file embeds";
  EXPECT_EQ(generate(path("hf-from-gguf")), original);

  r = run_cli("quantize --model " + path("src.gguf") + " --type q8_0 --out " + path("q8-from-gguf"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(fs::exists(path("q8-from-gguf/tokenizer.json")));
  generate(path("q8-from-gguf"));

  // A quantized folder has no float weights to export again: a clear refusal, nothing written.
  r = run_cli("export --model " + path("q8-from-gguf") + " --format hf --out " + path("hf-from-q8"));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("is a q8_0 folder, which holds no float weights"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(path("hf-from-q8")));
}

TEST_F(InteropCli, BadRequestsFailWithAMessageAndLeaveNothing) {
  auto r = run_cli("export --model " + path("run") + " --format hf --type q4_0 --out " + path("hf-q4"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("quantized types need --format gguf"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(path("hf-q4")));
  r = run_cli("export --model " + path("run") + " --format onnx --out " + path("x"));
  EXPECT_NE(r.exit_code, 0);
  r = run_cli("export --model " + path("run") + " --format gguf --shard-size 1GB --out " + path("x.gguf"));
  EXPECT_NE(r.output.find("--shard-size applies to --format hf only"), std::string::npos) << r.output;
  r = run_cli("export --model " + path("run") + " --format hf --shard-size 2TB --out " + path("x"));
  EXPECT_NE(r.output.find("size '2TB' is not understood"), std::string::npos) << r.output;

  cornerstone::io::write_file_atomic(path("junk.gguf"), "GGUF\x03");
  r = run_cli("import --from " + path("junk.gguf") + " --out " + path("from-junk"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("junk.gguf"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(path("from-junk")));
  r = run_cli("import --from " + path("run") + " --out " + path("data"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("already exists and is not empty"), std::string::npos) << r.output;
}
