// `cornerstone serve`: an OpenAI-compatible HTTP server over the models load() opens.
//
//   ServerOptions o;  o.models = {"runs/gpt"};  o.port = 0;   // 0: any free port
//   Server server(o);                     // loads the models, starts one scheduler per causal LM
//   int port = server.bind();             // listening from here on
//   std::thread t([&] { server.run(); }); // serves until stop()
//   ... server.stop(); t.join();          // stop(): refuse new requests, finish the ones in flight
//
// Endpoints (OpenAI's schemas; docs/serving.md):
//   GET  /health, /v1/models, /v1/models/{id}, /metrics (Prometheus text)
//   POST /v1/chat/completions, /v1/completions (both stream with "stream": true), /v1/embeddings
//   POST /tokenize, /detokenize
//   POST /v1/search (with --index): passages of an index; chat requests with "retrieval" answer
//        from them (rag/ask.h's prompt) and return them as "sources"
// Errors are OpenAI error objects {"error": {"message", "type", "param", "code"}}: 400 bad JSON or
// a bad field (named in "param"), 401 wrong key, 404 unknown model or route, 413 body or prompt
// too long, 429 queue full (with Retry-After), 503 shutting down.
//
// Generation runs on infer::Scheduler (continuous batching): `parallel` requests decode together,
// `max_queue` more wait for a slot, the rest are refused with 429.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace cornerstone::serve {

struct ServerOptions {
  std::vector<std::string> models;  // model folders or GGUF files; a request's "model" picks one by id
  std::vector<std::string> embeddings_models;  // served for /v1/embeddings only (no KV cache); the default there
  std::vector<std::string> indexes;  // retrieval index folders (`cornerstone index build`); requests name one by its folder name
  std::string host = "127.0.0.1";
  int port = 8080;                  // 0: any free port (bind() says which)
  std::string api_key;              // empty: no key required
  int64_t parallel = 4;             // KV-cache slots per causal LM: requests decoded together
  int64_t ctx_size = 0;             // positions per slot (0: the model's context)
  int64_t max_queue = 16;           // requests waiting for a slot before 429
  int64_t prefill_chunk = 256;      // prompt tokens read per decode step
  double keep_alive_s = 5;          // a streamed response's ": keep-alive" comment after this long without tokens
  double stream_interval_ms = 5;    // hand a request's new tokens to its HTTP thread at most this often (0: every token)
  size_t max_body_bytes = 4 << 20;  // larger bodies get 413
};

// The id a request names a model by: the folder's or file's name without ".gguf" ("runs/gpt/" -> "gpt").
std::string model_id_for(const std::string& path);

class Server {
 public:
  // Loads every model. Throws cornerstone errors (IOError, FormatError, ValueError) naming the model.
  explicit Server(const ServerOptions& options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds host:port and returns the port. Throws IOError when the address cannot be bound.
  int bind();
  // Serves until stop(); returns after the requests in flight have been answered.
  void run();
  // Refuses new requests (503), waits until the ones in flight (streams included) are answered,
  // then makes run() return. Thread-safe; blocks the caller meanwhile.
  void stop();

  std::vector<std::string> model_ids() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// Blocks SIGTERM and SIGINT in the calling thread and the threads it starts afterwards: call it
// before constructing the Server, then run_until_signal().
void block_stop_signals();
// Runs the server until SIGTERM or SIGINT, then stops it (in-flight requests finish) and returns.
void run_until_signal(Server& server);

}  // namespace cornerstone::serve
