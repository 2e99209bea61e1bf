#include "cornerstone/serve/server.h"

#include <httplib.h>
#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <ctime>
#include <deque>
#include <filesystem>
#include <mutex>
#include <random>
#include <thread>

#include "cornerstone/core/error.h"
#include "cornerstone/cornerstone.h"
#include "cornerstone/infer/scheduler.h"
#include "cornerstone/rag/ask.h"
#include "cornerstone/rag/index.h"
#include "cornerstone/serve/openai.h"
#include "serve/chat_page.h"
#include "serve/metrics.h"

namespace cornerstone::serve {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

std::string model_id_for(const std::string& path) {
  std::filesystem::path p(path);
  while (!p.empty() && p.filename().empty()) p = p.parent_path();  // "runs/gpt/" -> "runs/gpt"
  std::string id = p.filename().string();
  if (id.size() > 5 && id.compare(id.size() - 5, 5, ".gguf") == 0) id.resize(id.size() - 5);
  return id.empty() ? path : id;
}

namespace {

// JSON text; invalid UTF-8 (a model may emit a broken byte sequence) becomes U+FFFD instead of an exception.
std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

void send_json(httplib::Response& res, int status, const json& j) {
  res.status = status;
  res.set_content(dump(j), "application/json");
}

void send_error(httplib::Response& res, const ApiError& e) {
  if (e.retry_after > 0) res.set_header("Retry-After", std::to_string(e.retry_after));
  send_json(res, e.status, e.body());
}

// a == b in time that depends only on the lengths (the key is not guessable byte by byte).
bool same_secret(const std::string& a, const std::string& b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i % std::max<size_t>(b.size(), 1)]);
  return diff == 0;
}

struct ServedModel {
  std::string id;
  Model model;
  std::unique_ptr<infer::Scheduler> scheduler;  // causal LMs only
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
json sources_json(const std::vector<rag::SearchHit>& sources) {
  json out = json::array();
  for (size_t i = 0; i < sources.size(); ++i) out.push_back(rag::hit_json(sources[i], static_cast<int64_t>(i + 1)));
  return out;
}

// Scheduler events of one request's choices, handed from the scheduler's thread to the HTTP
// thread, stamped when the scheduler produced them (the HTTP thread may take several at once).
struct Channel {
  struct Item {
    size_t choice;
    infer::SchedulerEvent event;
    Clock::time_point at;
  };
  std::mutex mu;
  std::condition_variable cv;
  std::deque<Item> events;

  void push(size_t choice, const infer::SchedulerEvent& e) {
    {
      std::lock_guard<std::mutex> lock(mu);
      events.push_back({choice, e, Clock::now()});
    }
    cv.notify_one();
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
  Clock::time_point start, last;
  bool first = true;
  void token(Metrics& m, Clock::time_point at) {
    if (first)
      m.time_to_first_token(std::chrono::duration<double>(at - start).count());
    else
      m.time_per_output_token(std::chrono::duration<double>(at - last).count());
    first = false, last = at;
  }
};

}  // namespace

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
  static bool serves(const ServedModel& m, Capability need) {
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
  for (const auto& [path, embeddings_only] : paths) {
    auto m = std::make_unique<ServedModel>();
    m->id = model_id_for(path);
    m->embeddings_only = embeddings_only;
    for (const auto& other : models)
      if (other->id == m->id) throw ValueError("serve: two models are named '" + m->id + "' (" + path + "); rename a folder");
    m->model = load(path);
    if (embeddings_only && !m->model.can(Capability::Embeddings))
      throw ValueError("serve: --embeddings-model '" + path + "' is a " + m->model.describe() + ", which cannot embed text");
    if (!embeddings_only && m->model.can(Capability::CausalLM)) {
      const int64_t context = m->model.inference_weights().config().context;
      if (o.ctx_size > context)
        throw ValueError("serve: --ctx-size " + std::to_string(o.ctx_size) + " exceeds the context of '" + path + "' (" +
                         std::to_string(context) + ")");
      m->chat = m->model.chat_template();
      m->chat_stop_tokens = m->chat.stop_token_ids(m->model.tokenizer());
      infer::SchedulerOptions so;
      so.slots = o.parallel, so.max_len = o.ctx_size, so.prefill_chunk = o.prefill_chunk, so.max_queue = o.max_queue;
      m->scheduler = std::make_unique<infer::Scheduler>(m->model.inference_weights(), m->model.tokenizer(), so);
    }
    models.push_back(std::move(m));
  }
  routes();
}

void Server::Impl::completion(const httplib::Request& req, httplib::Response& res, bool chat) {
  const Clock::time_point arrived = Clock::now();
  auto ticket = std::make_shared<InFlight::Ticket>(in_flight);  // held until the response is written
  if (draining) throw ApiError{503, "the server is shutting down", "server_error", "", "shutting_down", 5};
  CompletionRequest r = parse_completion_request(parse_body(req.body), chat);
  ServedModel& m = find(r.model, Capability::CausalLM);
  const tokenize::Tokenizer& tok = m.model.tokenizer();
  infer::Scheduler& sched = *m.scheduler;
  std::vector<std::vector<int32_t>> prompts;
  std::vector<rag::SearchHit> sources;  // with "retrieval": the passages in the prompt, numbered from 1
  if (chat) {
    auto render = [&](const std::vector<tokenize::ChatMessage>& messages) {
      try {
        return tokenize::render_chat(messages, m.chat, /*add_generation_prompt=*/true);
      } catch (const ValueError& e) {
        throw bad_field("messages", e.what());
      }
    };
    std::string text;
    if (r.retrieval) {
      // The last user message is the query; it becomes rag_prompt's text with the passages that
      // fit beside the answer (the rest of the conversation stays as it is).
      ServedIndex& ix = find_index(r.retrieval->index, "retrieval.index");
      const std::string question = r.messages.back().content;
      const auto hits = search(ix, question, *r.retrieval);
      std::vector<tokenize::ChatMessage> messages = r.messages;
      auto with = [&](const std::vector<rag::SearchHit>& passages) {
        messages.back().content = rag::rag_prompt(question, passages);
        return render(messages);
      };
      const int64_t ctx = sched.max_len();
      const int64_t budget = ctx - (r.max_tokens ? *r.max_tokens : std::min<int64_t>(256, ctx / 4));
      sources = rag::fit_passages(
          hits, [&](const std::vector<rag::SearchHit>& p) { return static_cast<int64_t>(tok.encode(with(p)).size()); }, budget);
      text = with(sources);
    } else {
      text = render(r.messages);
    }
    prompts.push_back(tok.encode(text));
    r.options.stop.insert(r.options.stop.end(), m.chat.stop_strings.begin(), m.chat.stop_strings.end());
    r.options.stop_tokens = m.chat_stop_tokens;
  } else {
    const int64_t V = sched.weights().config().vocab_size;
    for (size_t i = 0; i < r.prompt_texts.size(); ++i) {
      if (r.prompt_texts[i]) {
        prompts.push_back(tok.encode(*r.prompt_texts[i]));
        continue;
      }
      for (int32_t t : r.prompt_ids[i])
        if (t >= V) throw bad_field("prompt", "token id " + std::to_string(t) + " is outside the vocabulary of " + std::to_string(V));
      prompts.push_back(r.prompt_ids[i]);
    }
  }
  const char* prompt_field = chat ? "messages" : "prompt";
  const int64_t ctx = sched.max_len();
  for (const auto& prompt : prompts) {
    const int64_t n_prompt = static_cast<int64_t>(prompt.size());
    if (prompt.empty()) throw bad_field(prompt_field, std::string("'") + prompt_field + "' has no tokens");
    if (n_prompt >= ctx)
      throw ApiError{413,
                     "the prompt has " + std::to_string(n_prompt) + " tokens; this model's context is " + std::to_string(ctx) +
                         " tokens, prompt and completion together (shorten the prompt)",
                     "invalid_request_error", prompt_field, "context_length_exceeded"};
    if (r.max_tokens && n_prompt + *r.max_tokens > ctx)
      throw ApiError{400,
                     "max_tokens is " + std::to_string(*r.max_tokens) + " and the prompt has " + std::to_string(n_prompt) +
                         " tokens; together they exceed this model's context of " + std::to_string(ctx) + " tokens",
                     "invalid_request_error", "max_tokens", "context_length_exceeded"};
  }

  // One scheduler request per choice: choice p * n + j is prompt p's j-th, sampled with seed + j
  // (Generator's sequence j).
  auto channel = std::make_shared<Channel>();
  auto ids = std::make_shared<std::vector<uint64_t>>();
  infer::Scheduler* scheduler = &sched;
  auto cancel_all = [scheduler, ids] {
    for (uint64_t id : *ids) scheduler->cancel(id);
  };
  for (size_t i = 0; i < prompts.size() * static_cast<size_t>(r.n); ++i) {
    const std::vector<int32_t>& prompt = prompts[i / static_cast<size_t>(r.n)];
    infer::RequestOptions o = r.options;
    o.seed = r.options.seed + i % static_cast<uint64_t>(r.n);
    o.max_tokens = r.max_tokens ? *r.max_tokens : ctx - static_cast<int64_t>(prompt.size());  // default: up to the context
    std::optional<uint64_t> id;
    try {
      id = sched.submit(prompt, o, [channel, i](const infer::SchedulerEvent& e) { channel->push(i, e); });
    } catch (const ValueError& e) {
      cancel_all();
      throw bad_field("", e.what());
    } catch (const ShapeError& e) {
      cancel_all();
      throw ApiError{413, e.what(), "invalid_request_error", prompt_field, "context_length_exceeded"};
    }
    if (!id) {
      cancel_all();
      if (draining) throw ApiError{503, "the server is shutting down", "server_error", "", "shutting_down", 5};
      throw ApiError{429, "all " + std::to_string(options.parallel) + " slots are busy and " + std::to_string(options.max_queue) +
                              " requests are waiting; retry later",
                     "rate_limit_error", "", "queue_full", 1};
    }
    ids->push_back(*id);
  }
  const size_t n = prompts.size() * static_cast<size_t>(r.n);  // choices
  const std::string rid = new_id(chat ? "chatcmpl" : "cmpl");
  const std::string model_id = m.id;

  if (!r.stream) {
    std::vector<Completion> choices(n);
    std::vector<TokenClock> clocks(n, TokenClock{arrived, arrived});
    for (size_t done = 0; done < n;)
      for (auto& [i, e, at] : channel->take(std::chrono::milliseconds(1000))) {
        Completion& c = choices[i];
        c.text += e.text;
        if (e.token) clocks[i].token(metrics, at);
        if (e.finished) {
          if (e.finish_reason == "error") {
            cancel_all();
            throw ApiError{500, "generation failed: " + e.error, "server_error", "", ""};
          }
          c.finish_reason = openai_finish_reason(e.finish_reason);
          c.prompt_tokens = e.prompt_tokens, c.completion_tokens = e.completion_tokens;
          ++done;
        }
        if (r.logprobs && e.logprob) c.token_events.push_back(std::move(e));
      }
    json body = completion_response(r, rid, created, model_id, choices, tok);
    if (r.retrieval) body["sources"] = sources_json(sources);
    send_json(res, 200, body);
    return;
  }

  // Streaming: server-sent events, one chunk per piece of text of a choice; ": keep-alive"
  // comments while a long prompt is read; a client that goes away cancels its requests.
  struct StreamState {
    StreamState(size_t n, Clock::time_point arrived) : clocks(n, TokenClock{arrived, arrived}) {}
    bool started = false, done = false;
    size_t finished = 0;
    int64_t prompt_tokens = 0, completion_tokens = 0;
    std::vector<TokenClock> clocks;
  };
  auto state = std::make_shared<StreamState>(n, arrived);
  const tokenize::Tokenizer* tokp = &tok;
  res.set_header("Cache-Control", "no-cache");
  res.set_chunked_content_provider(
      "text/event-stream",
      [this, r, rid, model_id, channel, state, tokp, ticket, n, sources](size_t, httplib::DataSink& sink) {
        auto write = [&](const json& j) {
          const std::string s = "data: " + dump(j) + "\n\n";
          return sink.write(s.data(), s.size());
        };
        auto end = [&] {
          static const std::string done = "data: [DONE]\n\n";
          if (!sink.write(done.data(), done.size())) return false;
          sink.done();
          return true;
        };
        if (!state->started && r.chat)
          for (size_t i = 0; i < n; ++i) {
            json first = delta_chunk(r, rid, created, model_id, i, "", nullptr, *tokp, std::nullopt, /*role=*/true);
            if (r.retrieval) first["sources"] = sources_json(sources);  // with each choice's first chunk
            if (!write(first)) return false;
          }
        state->started = true;
        auto events = channel->take(std::chrono::milliseconds(5000));
        if (events.empty()) {
          static const std::string keep_alive = ": keep-alive\n\n";
          return sink.write(keep_alive.data(), keep_alive.size());
        }
        for (const auto& [i, e, at] : events) {
          if (e.token) state->clocks[i].token(metrics, at);
          if (!e.text.empty() || (r.logprobs && e.logprob))
            if (!write(delta_chunk(r, rid, created, model_id, i, e.text, &e, *tokp, std::nullopt))) return false;
          if (!e.finished) continue;
          if (e.finish_reason == "error") {  // the other choices are cancelled by the releaser
            if (!write(ApiError{500, "generation failed: " + e.error, "server_error", "", ""}.body())) return false;
            return end();
          }
          if (!write(delta_chunk(r, rid, created, model_id, i, "", nullptr, *tokp, openai_finish_reason(e.finish_reason)))) return false;
          if (i % static_cast<size_t>(r.n) == 0) state->prompt_tokens += e.prompt_tokens;  // each prompt once
          state->completion_tokens += e.completion_tokens;
          if (++state->finished < n) continue;
          if (r.include_usage) {
            json u = chunk_json(r, rid, created, model_id);
            u["usage"] = usage_json(state->prompt_tokens, state->completion_tokens);
            if (!write(u)) return false;
          }
          state->done = true;
          return end();
        }
        return true;
      },
      [cancel_all, state](bool) {
        if (!state->done) cancel_all();  // the client went away: free the slots now
      });
}

void Server::Impl::search_endpoint(const httplib::Request& req, httplib::Response& res) {
  const InFlight::Ticket ticket(in_flight);
  const SearchRequest r = parse_search_request(parse_body(req.body));
  ServedIndex& ix = find_index(r.retrieval.index, "index");
  const auto hits = search(ix, r.query, r.retrieval);
  json data = json::array();
  for (size_t i = 0; i < hits.size(); ++i) {
    json h = rag::hit_json(hits[i], static_cast<int64_t>(i + 1));
    h["object"] = "search.result";
    data.push_back(std::move(h));
  }
  send_json(res, 200, {{"object", "list"}, {"index", ix.id}, {"mode", r.retrieval.mode}, {"data", data}});
}

void Server::Impl::embeddings(const httplib::Request& req, httplib::Response& res) {
  const InFlight::Ticket ticket(in_flight);
  if (draining) throw ApiError{503, "the server is shutting down", "server_error", "", "shutting_down", 5};
  const json body = parse_body(req.body);
  std::string model_name;
  if (body.contains("model") && !body["model"].is_null()) {
    if (!body["model"].is_string()) throw bad_field("model", "'model' must be a string");
    model_name = body["model"].get<std::string>();
  }
  if (!body.contains("input")) throw bad_field("input", "'input' is required");
  const json& in = body["input"];
  std::vector<std::string> texts;
  if (in.is_string()) {
    texts.push_back(in.get<std::string>());
  } else if (in.is_array() && !in.empty() && std::all_of(in.begin(), in.end(), [](const json& x) { return x.is_string(); })) {
    if (in.size() > 2048) throw bad_field("input", "'input' may hold at most 2048 texts, got " + std::to_string(in.size()));
    for (const json& x : in) texts.push_back(x.get<std::string>());
  } else if (in.is_array() && !in.empty() && (in[0].is_number_integer() || in[0].is_array())) {
    throw ApiError{400, "token ids as embedding input are not supported yet; send text", "invalid_request_error", "input", "unsupported_parameter"};
  } else {
    throw bad_field("input", "'input' must be a string or a non-empty array of strings");
  }
  for (size_t i = 0; i < texts.size(); ++i)
    if (texts[i].empty()) throw bad_field("input", "'input[" + std::to_string(i) + "]' is empty");
  bool base64 = false;
  if (body.contains("encoding_format") && !body["encoding_format"].is_null()) {
    const json& f = body["encoding_format"];
    if (!f.is_string() || (f != "float" && f != "base64")) throw bad_field("encoding_format", "'encoding_format' must be \"float\" or \"base64\"");
    base64 = f == "base64";
  }
  if (body.contains("dimensions") && !body["dimensions"].is_null())
    throw ApiError{400, "'dimensions' is not supported yet", "invalid_request_error", "dimensions", "unsupported_parameter"};
  ServedModel& m = find(model_name, Capability::Embeddings);
  Tensor v;
  {
    std::lock_guard<std::mutex> lock(m.embed_mu);
    v = m.model.embed(texts);
  }
  int64_t tokens = 0;
  for (const std::string& t : texts) tokens += static_cast<int64_t>(m.model.tokenizer().encode(t).size());
  const int64_t C = v.size(1);
  json data = json::array();
  for (int64_t i = 0; i < v.size(0); ++i) {
    const float* row = v.data<float>() + i * C;
    json e = {{"object", "embedding"}, {"index", i}};
    if (base64)  // little-endian float32, as the client decodes it (x86 is little-endian)
      e["embedding"] = base64_encode(row, static_cast<size_t>(C) * sizeof(float));
    else
      e["embedding"] = std::vector<float>(row, row + C);
    data.push_back(std::move(e));
  }
  metrics.embedded_tokens(tokens);
  send_json(res, 200, {{"object", "list"}, {"data", data}, {"model", m.id}, {"usage", {{"prompt_tokens", tokens}, {"total_tokens", tokens}}}});
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
    infer::SchedulerStats all;
    for (const auto& m : models)
      if (m->scheduler) {
        const infer::SchedulerStats s = m->scheduler->stats();
        all.queued += s.queued, all.busy_slots += s.busy_slots, all.slots += s.slots, all.steps += s.steps;
        all.prompt_tokens += s.prompt_tokens, all.generated_tokens += s.generated_tokens;
        all.finished += s.finished, all.cancelled += s.cancelled;
      }
    auto d = [](int64_t v) { return static_cast<double>(v); };
    const std::vector<Metrics::Sample> samples = {
        {"cornerstone_prompt_tokens_total", "Prompt tokens read by the decoder.", "counter", d(all.prompt_tokens)},
        {"cornerstone_generated_tokens_total", "Tokens generated.", "counter", d(all.generated_tokens)},
        {"cornerstone_decode_steps_total", "Batched decoder passes.", "counter", d(all.steps)},
        {"cornerstone_finished_requests_total", "Completions that ran to their end (length, stop, eos).", "counter", d(all.finished)},
        {"cornerstone_cancelled_requests_total", "Completions dropped because their client went away.", "counter", d(all.cancelled)},
        {"cornerstone_queue_depth", "Requests waiting for a slot.", "gauge", d(all.queued)},
        {"cornerstone_busy_slots", "KV-cache slots decoding a request.", "gauge", d(all.busy_slots)},
        {"cornerstone_slots", "KV-cache slots in all.", "gauge", d(all.slots)},
    };
    res.set_content(metrics.render(samples), "text/plain; version=0.0.4");
  });
}

Server::Server(const ServerOptions& options) : impl_(std::make_unique<Impl>(options)) {}

Server::~Server() = default;

int Server::bind() {
  const ServerOptions& o = impl_->options;
  const int port = o.port == 0 ? impl_->http.bind_to_any_port(o.host) : (impl_->http.bind_to_port(o.host, o.port) ? o.port : -1);
  if (port < 0) throw IOError("serve: cannot listen on " + o.host + ":" + std::to_string(o.port) + " (in use, or not an address of this machine)");
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
