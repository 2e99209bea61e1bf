// The server's shared parts (private to src/serve): the served models and indexes, the events a
// request's choices hand from the scheduler to the HTTP thread, the in-flight count, and
// Server::Impl, whose routes are in server.cpp and whose request handlers in handlers.cpp.
#pragma once

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <ctime>
#include <deque>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <vector>

#include "cornerstone/cornerstone.h"
#include "cornerstone/infer/scheduler.h"
#include "cornerstone/rag/index.h"
#include "cornerstone/serve/openai.h"
#include "cornerstone/serve/server.h"
#include "serve/metrics.h"

namespace cornerstone::serve {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

// JSON text; invalid UTF-8 (a model may emit a broken byte sequence) becomes U+FFFD instead of an exception.
inline std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

inline void send_json(httplib::Response& res, int status, const json& j) {
  res.status = status;
  res.set_content(dump(j), "application/json");
}

inline void send_error(httplib::Response& res, const ApiError& e) {
  if (e.retry_after > 0) res.set_header("Retry-After", std::to_string(e.retry_after));
  send_json(res, e.status, e.body());
}

struct ServedModel {
  std::string id;
  Model model;                                  // a LoRA adapter's: its base's
  std::shared_ptr<infer::Scheduler> scheduler;  // causal LMs only; a LoRA adapter shares its base's
  int32_t lora = -1;                            // a LoRA adapter over a served base: its index in the scheduler
  bool embeddings_only = false;                 // --embeddings-model
  tokenize::ChatTemplate chat;
  std::vector<int32_t> chat_stop_tokens;
  std::mutex embed_mu;  // one embedding batch at a time (the forward pass uses every core)
};

struct ServedIndex {
  std::string id;
  rag::Index index;
  std::mutex mu;  // one search at a time: the SQLite connection and the query embedder are not shared
};

// The passages a retrieval answer read, numbered as in its prompt.
inline json sources_json(const std::vector<rag::SearchHit>& sources) {
  json out = json::array();
  for (size_t i = 0; i < sources.size(); ++i) out.push_back(rag::hit_json(sources[i], static_cast<int64_t>(i + 1)));
  return out;
}

// Scheduler events of one request's choices, handed from the scheduler's thread to the HTTP
// thread, stamped when the scheduler produced them (the HTTP thread may take several at once).
// The HTTP thread is woken for the first event, for a choice's last, and otherwise at most once
// per `interval` (--stream-interval): on a machine whose cores all decode, each wake-up of the
// HTTP thread (and of a streaming client on the same machine) takes a core from the decoder for
// a while, and at several hundred tokens/s waking per token cost a single q8_0 stream 15-20%.
struct Channel {
  struct Item {
    size_t choice;
    infer::SchedulerEvent event;
    Clock::time_point at;
  };
  explicit Channel(Clock::duration interval = Clock::duration::zero()) : interval(interval) {}
  const Clock::duration interval;
  std::mutex mu;
  std::condition_variable cv;
  std::deque<Item> events;
  Clock::time_point last_wake{};  // epoch: the first event wakes

  void push(size_t choice, const infer::SchedulerEvent& e) {
    bool wake;
    {
      std::lock_guard<std::mutex> lock(mu);
      const Clock::time_point now = Clock::now();
      events.push_back({choice, e, now});
      wake = e.finished || now - last_wake >= interval;
      if (wake) last_wake = now;
    }
    if (wake) cv.notify_one();
  }
  // Whatever arrived, waiting up to `timeout` for the first.
  std::deque<Item> take(std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait_for(lock, timeout, [&] { return !events.empty(); });
    std::deque<Item> out;
    out.swap(events);
    return out;
  }
};

// Time to first token (from the request's arrival) and between tokens, for /metrics.
struct TokenClock {
  std::string model;  // the served model's id (the metrics' label)
  Clock::time_point start, last;
  bool first = true;
  void token(Metrics& m, Clock::time_point at) {
    if (first)
      m.time_to_first_token(model, std::chrono::duration<double>(at - start).count());
    else
      m.time_per_output_token(model, std::chrono::duration<double>(at - last).count());
    first = false, last = at;
  }
};



// Counts the requests being answered, so that stop() can wait for them: httplib's own stop cuts
// streamed responses off.
class InFlight {
 public:
  struct Ticket {
    explicit Ticket(InFlight& f) : f(f) {
      std::lock_guard<std::mutex> lock(f.mu_);
      ++f.n_;
    }
    ~Ticket() {
      std::lock_guard<std::mutex> lock(f.mu_);
      if (--f.n_ == 0) f.cv_.notify_all();
    }
    InFlight& f;
  };
  void wait_idle() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return n_ == 0; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int64_t n_ = 0;
};

struct Server::Impl {
  ServerOptions options;
  InFlight in_flight;
  std::vector<std::unique_ptr<ServedModel>> models;
  std::vector<std::unique_ptr<ServedIndex>> indexes;
  httplib::Server http;
  Metrics metrics;
  std::atomic<bool> draining{false};
  const int64_t created = static_cast<int64_t>(std::time(nullptr));
  std::mutex id_mu;
  std::mt19937_64 id_rng{std::random_device{}()};

  explicit Impl(const ServerOptions& o);
  void routes();

  std::string new_id(const char* prefix) {
    std::lock_guard<std::mutex> lock(id_mu);
    char buf[40];
    std::snprintf(buf, sizeof buf, "%s-%016llx", prefix, static_cast<unsigned long long>(id_rng()));
    return buf;
  }

  // The model a request names ("" -> the first that can), or 404 / 400.
  // What a served model does here: an --embeddings-model only embeds (it has no KV cache).
  // A LoRA adapter over a served base generates; it does not embed (its Model is the base's).
  static bool serves(const ServedModel& m, Capability need) {
    if (m.lora >= 0) return need == Capability::CausalLM;
    return m.model.can(need) && (need != Capability::CausalLM || m.scheduler != nullptr);
  }

  // The model a request names, or when it names none the first that can (for embeddings, an
  // --embeddings-model first); 404 for an unknown name, 400 for a model that cannot.
  ServedModel& find(const std::string& id, Capability need) {
    if (id.empty() && need == Capability::Embeddings)
      for (auto& m : models)
        if (m->embeddings_only) return *m;
    for (auto& m : models)
      if (id.empty() ? serves(*m, need) : m->id == id) {
        if (!serves(*m, need))
          throw ApiError{400, "model '" + m->id + "' (" + m->model.describe() + ") cannot do " + capability_name(need), "invalid_request_error",
                         "model", "model_not_supported"};
        return *m;
      }
    if (id.empty()) throw bad_field("model", "no model served here can do " + capability_name(need));
    throw ApiError{404, "The model '" + id + "' does not exist", "invalid_request_error", "model", "model_not_found"};
  }

  // The index a request names ("" -> the first), or 404 / 400.
  ServedIndex& find_index(const std::string& id, const std::string& param) {
    if (indexes.empty()) throw ApiError{400, "this server has no retrieval index (start it with --index DIR)", "invalid_request_error", param, "no_index"};
    if (id.empty()) return *indexes.front();
    for (auto& ix : indexes)
      if (ix->id == id) return *ix;
    throw ApiError{404, "The index '" + id + "' does not exist", "invalid_request_error", param, "index_not_found"};
  }
  std::vector<rag::SearchHit> search(ServedIndex& ix, const std::string& query, const RetrievalRequest& r) {
    rag::SearchOptions o;
    o.mode = rag::search_mode_from_name(r.mode);
    o.k = r.k;
    std::lock_guard<std::mutex> lock(ix.mu);
    return ix.index.search(query, o);
  }

  void completion(const httplib::Request& req, httplib::Response& res, bool chat);
  void embeddings(const httplib::Request& req, httplib::Response& res);
  void search_endpoint(const httplib::Request& req, httplib::Response& res);
};


}  // namespace cornerstone::serve
