// `cornerstone serve`: the OpenAI-compatible HTTP server (serve/server.h, docs/serving.md).
#include <cstdio>

#include "command.h"
#include "cornerstone/serve/server.h"

namespace {

void add_serve(CLI::App& app) {
  auto* cmd = app.add_subcommand("serve", "Serve models over an OpenAI-compatible HTTP API (chat, completions, embeddings; streaming)");
  static cornerstone::serve::ServerOptions o;
  // At least one of the two (the server says so when neither is given).
  cmd->add_option("--model", o.models, "Model folder or FILE.gguf (repeatable); requests name it by its folder or file name");
  cmd->add_option("--embeddings-model", o.embeddings_models,
                  "A model served for /v1/embeddings only, e.g. an encoder (repeatable; the default there)");
  cmd->add_option("--index", o.indexes,
                  "A retrieval index folder (`cornerstone index build`; repeatable) for POST /v1/search and chat requests with \"retrieval\"");
  cmd->add_option("--host", o.host, "Address to listen on")->capture_default_str();
  cmd->add_option("--port", o.port, "Port to listen on (0: any free port, printed at start)")->capture_default_str()->check(CLI::Range(0, 65535));
  cmd->add_option("--api-key", o.api_key, "Require 'Authorization: Bearer KEY' on every route but /health");
  cmd->add_option("--parallel", o.parallel, "Requests decoded together per model (KV-cache slots)")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--ctx-size", o.ctx_size, "Positions per slot, prompt and completion (0: the model's context)")->capture_default_str();
  cmd->add_option("--max-queue", o.max_queue, "Requests waiting for a slot before the server answers 429")->capture_default_str()->check(CLI::NonNegativeNumber);
  cmd->add_option("--stream-interval", o.stream_interval_ms,
                  "Milliseconds: hand a request's new tokens to its HTTP thread at most this often (the first and last at once; "
                  "0: every token). Each hand-over wakes a thread that takes a core from the decoder for a while")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--keep-alive", o.keep_alive_s,
                  "Seconds without a token (a long prompt being read) before a streamed response gets a ': keep-alive' comment, "
                  "so that proxies do not drop it")
      ->capture_default_str()
      ->check(CLI::Range(0.01, 3600.0));
  cmd->add_option("--prefill-chunk", o.prefill_chunk, "Prompt tokens read per decode step (long prompts do not stall running streams)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->callback([] {
    using namespace cornerstone::serve;
    block_stop_signals();  // before any thread starts: SIGTERM / SIGINT go to the server's watcher
    Server server(o);
    const int port = server.bind();
    std::string ids;
    for (const auto& id : server.model_ids()) ids += (ids.empty() ? "" : ", ") + id;
    std::printf("serving %s on http://%s:%d\n", ids.c_str(), o.host.c_str(), port);
    std::fflush(stdout);
    run_until_signal(server);
    std::fprintf(stderr, "serve: stopped\n");
  });
}

}  // namespace

CORNERSTONE_COMMAND(add_serve, 55)
