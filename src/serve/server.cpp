#include "cornerstone/serve/server.h"

#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <thread>

#include "cornerstone/core/allocator.h"
#include "cornerstone/core/error.h"
#include "serve/chat_page.h"
#include "serve/server_impl.h"

namespace cornerstone::serve {

namespace fs = std::filesystem;

std::string model_id_for(const std::string& path) {
  std::filesystem::path p(path);
  while (!p.empty() && p.filename().empty()) p = p.parent_path();  // "runs/gpt/" -> "runs/gpt"
  std::string id = p.filename().string();
  if (id.size() > 5 && id.compare(id.size() - 5, 5, ".gguf") == 0) id.resize(id.size() - 5);
  return id.empty() ? path : id;
}

namespace {

// a == b in time that depends only on the lengths (the key is not guessable byte by byte).
bool same_secret(const std::string& a, const std::string& b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i % std::max<size_t>(b.size(), 1)]);
  return diff == 0;
}

}  // namespace

Server::Impl::Impl(const ServerOptions& o) : options(o) {
  if (o.models.empty() && o.embeddings_models.empty()) throw ValueError("serve: give at least one --model or --embeddings-model");
  for (const std::string& path : o.indexes) {
    const std::string id = model_id_for(path);
    for (const auto& other : indexes)
      if (other->id == id) throw ValueError("serve: two indexes are named '" + id + "' (" + path + "); rename a folder");
    indexes.push_back(std::unique_ptr<ServedIndex>(new ServedIndex{id, rag::Index::open(path), {}}));
  }
  if (o.parallel <= 0) throw ValueError("serve: --parallel must be positive, got " + std::to_string(o.parallel));
  if (o.ctx_size < 0) throw ValueError("serve: --ctx-size must be >= 0, got " + std::to_string(o.ctx_size));
  if (o.max_queue < 0) throw ValueError("serve: --max-queue must be >= 0, got " + std::to_string(o.max_queue));
  std::vector<std::pair<std::string, bool>> paths;  // (path, embeddings only)
  for (const std::string& path : o.models) paths.emplace_back(path, false);
  for (const std::string& path : o.embeddings_models) paths.emplace_back(path, true);
  // A LoRA folder whose base is served too is served over that base: one copy of the base's
  // weights, one scheduler, the adapter applied to its own requests' rows (infer/lora_deltas.h).
  auto same_file = [](const std::string& a, const std::string& b) {
    std::error_code ec;
    return fs::equivalent(a, b, ec);
  };
  std::vector<std::string> recorded(paths.size());  // the base each LoRA language-model folder names
  for (size_t i = 0; i < paths.size(); ++i)
    if (!paths[i].second) recorded[i] = lora_base(paths[i].first);
  std::vector<int64_t> base_of(paths.size(), -1);  // the index in `paths` of an adapter's base
  for (size_t i = 0; i < paths.size(); ++i)
    for (size_t j = 0; j < paths.size() && !recorded[i].empty(); ++j)
      if (j != i && !paths[j].second && recorded[j].empty() && same_file(paths[j].first, recorded[i])) base_of[i] = static_cast<int64_t>(j);
  std::vector<std::unique_ptr<ServedModel>> loaded(paths.size());
  std::vector<std::vector<infer::LoRADeltas>> adapters(paths.size());  // by base
  // Loaded on a thread of its own, which takes its OpenMP team with it when it ends: a second
  // team in the process makes libgomp's threads sleep on a futex between parallel regions (it
  // throttles spinning once there are more OpenMP threads than cores), and the scheduler's
  // team then pays a wake-up per decode step (5-10% of a q8_0 gpt2-small step, measured side
  // by side with a build that loads on the main thread).
  auto on_own_thread = [](const std::function<void()>& f) {
    std::exception_ptr failed;
    std::thread([&] {
      try {
        f();
      } catch (...) {
        failed = std::current_exception();
      }
    }).join();
    if (failed) std::rethrow_exception(failed);
  };
  // Bases and every other model first, then the adapters over them.
  for (const bool adapter_pass : {false, true})
    for (size_t i = 0; i < paths.size(); ++i) {
      if ((base_of[i] >= 0) != adapter_pass) continue;
      const std::string path = paths[i].first;
      const bool embeddings_only = paths[i].second;
      auto m = std::make_unique<ServedModel>();
      m->id = model_id_for(path);
      m->embeddings_only = embeddings_only;
      for (const auto& other : loaded)
        if (other && other->id == m->id) throw ValueError("serve: two models are named '" + m->id + "' (" + path + "); rename a folder");
      if (adapter_pass) {
        ServedModel& base = *loaded[static_cast<size_t>(base_of[i])];
        Model adapter;
        on_own_thread([&] {
          LoadOptions lo;
          lo.merge_adapters = false;
          adapter = load(path, lo);
          adapters[static_cast<size_t>(base_of[i])].push_back(adapter.lora_deltas());
        });
        if (!adapter.can(Capability::CausalLM) || !base.model.can(Capability::CausalLM))
          throw ValueError("serve: '" + path + "' is a LoRA adapter of '" + base.model.path() + "' but not a language model over it");
        if (adapter.tokenizer().vocab_size() != base.model.tokenizer().vocab_size())
          throw ValueError("serve: the LoRA adapter '" + path + "' has a tokenizer of " + std::to_string(adapter.tokenizer().vocab_size()) +
                           " tokens, its base '" + base.model.path() + "' one of " + std::to_string(base.model.tokenizer().vocab_size()));
        m->model = base.model;
        m->lora = static_cast<int32_t>(adapters[static_cast<size_t>(base_of[i])].size() - 1);
        m->chat = adapter.chat_template();  // an sft adapter's own
        m->chat_stop_tokens = m->chat.stop_token_ids(base.model.tokenizer());
      } else {
        const bool pack = !embeddings_only;
        on_own_thread([&] {
          m->model = load(path);
          if (pack && m->model.can(Capability::CausalLM)) (void)m->model.inference_weights();  // packs the weights
        });
        if (embeddings_only && !m->model.can(Capability::Embeddings))
          throw ValueError("serve: --embeddings-model '" + path + "' is a " + m->model.describe() + ", which cannot embed text");
        if (!embeddings_only && m->model.can(Capability::CausalLM)) {
          const int64_t context = m->model.inference_weights().config().context;
          if (o.ctx_size > context)
            throw ValueError("serve: --ctx-size " + std::to_string(o.ctx_size) + " exceeds the context of '" + path + "' (" +
                             std::to_string(context) + ")");
          m->chat = m->model.chat_template();
          m->chat_stop_tokens = m->chat.stop_token_ids(m->model.tokenizer());
        }
      }
      loaded[i] = std::move(m);
    }
  // An adapter's terms were read through a private copy of its base (load() with the adapters
  // apart), freed by now: hand its blocks back rather than keep them cached for reuse.
  if (std::any_of(base_of.begin(), base_of.end(), [](int64_t b) { return b >= 0; })) {
    CachingAllocator::global().release_cached();
    malloc_trim(0);  // and glibc's heap, which keeps large freed blocks once its mmap threshold has grown
  }
  // One scheduler per generating base, with its adapters; the adapters share it.
  for (size_t i = 0; i < paths.size(); ++i) {
    ServedModel& m = *loaded[i];
    if (base_of[i] >= 0 || m.embeddings_only || !m.model.can(Capability::CausalLM)) continue;
    infer::SchedulerOptions so;
    so.slots = o.parallel, so.max_len = o.ctx_size, so.prefill_chunk = o.prefill_chunk, so.max_queue = o.max_queue;
    m.scheduler = std::make_shared<infer::Scheduler>(m.model.inference_weights(), m.model.tokenizer(), so, std::move(adapters[i]));
  }
  for (size_t i = 0; i < paths.size(); ++i)
    if (base_of[i] >= 0) loaded[i]->scheduler = loaded[static_cast<size_t>(base_of[i])]->scheduler;
  for (size_t i = 0; i < paths.size(); ++i) {
    metrics.add_model(loaded[i]->id);
    models.push_back(std::move(loaded[i]));
  }
  routes();
}

namespace {

// Runs a handler, turning its errors into OpenAI error objects: ApiError as it is, the engine's
// ValueError / ShapeError as 400, anything else as 500.
template <typename F>
httplib::Server::Handler guarded(F f) {
  return [f](const httplib::Request& req, httplib::Response& res) {
    try {
      f(req, res);
    } catch (const ApiError& e) {
      send_error(res, e);
    } catch (const ValueError& e) {
      send_error(res, ApiError{400, e.what()});
    } catch (const ShapeError& e) {
      send_error(res, ApiError{400, e.what()});
    } catch (const nlohmann::json::exception& e) {  // a field of the wrong type read with json::value()
      send_error(res, ApiError{400, e.what()});
    } catch (const std::exception& e) {
      send_error(res, ApiError{500, e.what(), "server_error", "", ""});
    }
  };
}

const std::vector<std::string> kRoutes = {"/", "/health", "/metrics", "/v1/models", "/v1/chat/completions", "/v1/completions",
                                          "/v1/embeddings", "/v1/search", "/tokenize", "/detokenize"};

}  // namespace

void Server::Impl::routes() {
  // Every waiting request holds an HTTP thread: enough for the slots, the queue and a few more
  // (the rest get 429 from a spare thread rather than waiting in the socket backlog).
  const size_t threads = static_cast<size_t>(std::min<int64_t>(models.size() * (options.parallel + options.max_queue) + 8, 512));
  http.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  http.set_payload_max_length(options.max_body_bytes);
  http.set_keep_alive_timeout(2);

  http.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    if (req.path == "/health" || req.path == "/") return httplib::Server::HandlerResponse::Unhandled;  // the page holds no data
    if (!options.api_key.empty() && !same_secret(req.get_header_value("Authorization"), "Bearer " + options.api_key)) {
      send_error(res, ApiError{401,
                               req.has_header("Authorization") ? "Incorrect API key provided" : "Missing API key: send 'Authorization: Bearer KEY'",
                               "invalid_request_error", "", "invalid_api_key"});
      return httplib::Server::HandlerResponse::Handled;
    }
    if (draining && req.method == "POST") {
      send_error(res, ApiError{503, "the server is shutting down", "server_error", "", "shutting_down", 5});
      return httplib::Server::HandlerResponse::Handled;
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });
  // Errors httplib answers itself (unknown route, body too large, malformed HTTP) as OpenAI error objects.
  httplib::Server::HandlerWithResponse on_error = [this](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
    ApiError e{res.status, "HTTP error " + std::to_string(res.status)};
    if (res.status == 404) e.message = "unknown route: " + req.method + " " + req.path, e.code = "not_found";
    if (res.status == 413)
      e.message = "the request body exceeds the server's limit of " + std::to_string(options.max_body_bytes) + " bytes", e.code = "body_too_large";
    if (res.status == 400) e.message = "malformed HTTP request";
    res.set_content(dump(e.body()), "application/json");
    return httplib::Server::HandlerResponse::Handled;
  };
  http.set_error_handler(on_error);
  http.set_logger([this](const httplib::Request& req, const httplib::Response& res) {
    const bool known = std::find(kRoutes.begin(), kRoutes.end(), req.path) != kRoutes.end() || req.path.rfind("/v1/models/", 0) == 0;
    metrics.request(known ? (req.path.rfind("/v1/models/", 0) == 0 ? "/v1/models/{id}" : req.path) : "other", res.status);
  });

  http.Get("/", [](const httplib::Request&, httplib::Response& res) { res.set_content(chat_page_html(), "text/html; charset=utf-8"); });
  http.Get("/health", [this](const httplib::Request&, httplib::Response& res) {
    send_json(res, draining ? 503 : 200, {{"status", draining ? "shutting down" : "ok"}});
  });
  auto model_json = [this](const ServedModel& m) {
    return json{{"id", m.id}, {"object", "model"}, {"created", created}, {"owned_by", "cornerstone"}};
  };
  http.Get("/v1/models", [this, model_json](const httplib::Request&, httplib::Response& res) {
    json data = json::array();
    for (const auto& m : models) data.push_back(model_json(*m));
    send_json(res, 200, {{"object", "list"}, {"data", data}});
  });
  http.Get(R"(/v1/models/(.+))", guarded([this, model_json](const httplib::Request& req, httplib::Response& res) {
             for (const auto& m : models)
               if (m->id == req.matches[1].str()) return send_json(res, 200, model_json(*m));
             throw ApiError{404, "The model '" + req.matches[1].str() + "' does not exist", "invalid_request_error", "model", "model_not_found"};
           }));
  http.Post("/v1/chat/completions", guarded([this](const httplib::Request& req, httplib::Response& res) { completion(req, res, true); }));
  http.Post("/v1/completions", guarded([this](const httplib::Request& req, httplib::Response& res) { completion(req, res, false); }));
  http.Post("/v1/search", guarded([this](const httplib::Request& req, httplib::Response& res) { search_endpoint(req, res); }));
  http.Post("/v1/embeddings", guarded([this](const httplib::Request& req, httplib::Response& res) { embeddings(req, res); }));
  http.Post("/tokenize", guarded([this](const httplib::Request& req, httplib::Response& res) {
              const json body = parse_body(req.body);
              const ServedModel& m = find(body.value("model", std::string()), Capability::CausalLM);
              if (!body.contains("content") || !body["content"].is_string()) throw bad_field("content", "'content' must be a string");
              bool special = false;
              if (body.contains("add_special")) {
                if (!body["add_special"].is_boolean()) throw bad_field("add_special", "'add_special' must be true or false");
                special = body["add_special"].get<bool>();
              }
              send_json(res, 200, {{"tokens", m.model.tokenizer().encode(body["content"].get<std::string>(), special)}});
            }));
  http.Post("/detokenize", guarded([this](const httplib::Request& req, httplib::Response& res) {
              const json body = parse_body(req.body);
              const ServedModel& m = find(body.value("model", std::string()), Capability::CausalLM);
              const json* t = body.contains("tokens") ? &body["tokens"] : nullptr;
              if (!t || !t->is_array()) throw bad_field("tokens", "'tokens' must be an array of token ids");
              const int64_t V = m.model.tokenizer().vocab_size();
              std::vector<int32_t> ids;
              for (const json& x : *t) {
                if (!x.is_number_integer() || x.get<int64_t>() < 0 || x.get<int64_t>() >= V)
                  throw bad_field("tokens", "'tokens' holds " + x.dump() + ", not a token id below " + std::to_string(V));
                ids.push_back(x.get<int32_t>());
              }
              send_json(res, 200, {{"content", m.model.tokenizer().decode(ids)}});
            }));
  http.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    // Per generating model (label model="id"), each metric's series together.
    std::vector<std::pair<std::string, infer::SchedulerStats>> stats;
    for (const auto& m : models)  // an adapter's requests count under its base's scheduler
      if (m->scheduler && m->lora < 0) stats.emplace_back(m->id, m->scheduler->stats());
    std::vector<Metrics::Sample> samples;
    auto each = [&](const char* name, const char* help, const char* type, int64_t infer::SchedulerStats::*field) {
      for (const auto& [id, s] : stats) samples.push_back({name, help, type, static_cast<double>(s.*field), id});
    };
    each("cornerstone_prompt_tokens_total", "Prompt tokens read by the decoder.", "counter", &infer::SchedulerStats::prompt_tokens);
    each("cornerstone_generated_tokens_total", "Tokens generated.", "counter", &infer::SchedulerStats::generated_tokens);
    each("cornerstone_decode_steps_total", "Batched decoder passes.", "counter", &infer::SchedulerStats::steps);
    each("cornerstone_finished_requests_total", "Completions that ran to their end (length, stop, eos).", "counter",
         &infer::SchedulerStats::finished);
    each("cornerstone_cancelled_requests_total", "Completions dropped because their client went away.", "counter",
         &infer::SchedulerStats::cancelled);
    each("cornerstone_queue_depth", "Requests waiting for a slot.", "gauge", &infer::SchedulerStats::queued);
    each("cornerstone_busy_slots", "KV-cache slots decoding a request.", "gauge", &infer::SchedulerStats::busy_slots);
    each("cornerstone_slots", "KV-cache slots in all.", "gauge", &infer::SchedulerStats::slots);
    res.set_content(metrics.render(samples), "text/plain; version=0.0.4");
  });
}

Server::Server(const ServerOptions& options) : impl_(std::make_unique<Impl>(options)) {}

Server::~Server() = default;

int Server::bind() {
  const ServerOptions& o = impl_->options;
  // cpp-httplib listens with a backlog of 5 (compiled into Debian's library). When more clients
  // connect at once than the accept loop takes while the cores decode, the kernel drops their
  // handshakes and they retry a second later: 16 concurrent streams had a p99 time to first token
  // of 1.2 s. The socket is raised to the system's limit once bound (listen() again is allowed).
  int socket_fd = -1;
  impl_->http.set_socket_options([&socket_fd](socket_t sock) {
    httplib::default_socket_options(sock);
    socket_fd = sock;
  });
  const int port = o.port == 0 ? impl_->http.bind_to_any_port(o.host) : (impl_->http.bind_to_port(o.host, o.port) ? o.port : -1);
  if (port < 0) throw IOError("serve: cannot listen on " + o.host + ":" + std::to_string(o.port) + " (in use, or not an address of this machine)");
  if (socket_fd >= 0 && ::listen(socket_fd, SOMAXCONN) != 0)
    throw IOError("serve: cannot set the listen backlog on " + o.host + ":" + std::to_string(port) + ": " + std::strerror(errno));
  return port;
}

void Server::run() {
  if (impl_->draining) return;
  impl_->http.listen_after_bind();
  for (auto& m : impl_->models)
    if (m->scheduler) m->scheduler->drain();
}

void Server::stop() {
  impl_->draining = true;  // new requests get 503 from here on
  impl_->in_flight.wait_idle();
  impl_->http.stop();
}

std::vector<std::string> Server::model_ids() const {
  std::vector<std::string> ids;
  for (const auto& m : impl_->models) ids.push_back(m->id);
  return ids;
}

void block_stop_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

void run_until_signal(Server& server) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  std::atomic<bool> signalled{false}, finished{false};
  std::thread watcher([&] {
    int sig = 0;
    sigwait(&set, &sig);
    signalled = true;
    if (finished) return;
    std::fprintf(stderr, "serve: %s: finishing the requests in flight\n", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    server.stop();
  });
  server.run();
  finished = true;
  if (!signalled) pthread_kill(watcher.native_handle(), SIGTERM);  // run() ended on its own: end the watcher's sigwait
  watcher.join();
}

}  // namespace cornerstone::serve