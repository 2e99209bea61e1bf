// The request handlers of Server::Impl: completions (chat or not, streamed or not, with retrieval),
// /v1/search and /v1/embeddings.
#include <algorithm>
#include <cstdio>

#include "cornerstone/core/error.h"
#include "cornerstone/rag/ask.h"
#include "serve/server_impl.h"

namespace cornerstone::serve {

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
  auto channel = std::make_shared<Channel>(std::chrono::duration_cast<Clock::duration>(
      std::chrono::duration<double, std::milli>(std::max(0.0, options.stream_interval_ms))));
  auto ids = std::make_shared<std::vector<uint64_t>>();
  infer::Scheduler* scheduler = &sched;
  auto cancel_all = [scheduler, ids] {
    for (uint64_t id : *ids) scheduler->cancel(id);
  };
  for (size_t i = 0; i < prompts.size() * static_cast<size_t>(r.n); ++i) {
    const std::vector<int32_t>& prompt = prompts[i / static_cast<size_t>(r.n)];
    infer::RequestOptions o = r.options;
    o.lora = m.lora;
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
    std::vector<TokenClock> clocks(n, TokenClock{model_id, arrived, arrived});
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
    StreamState(size_t n, const std::string& model, Clock::time_point arrived) : clocks(n, TokenClock{model, arrived, arrived}) {}
    bool started = false, done = false;
    size_t finished = 0;
    int64_t prompt_tokens = 0, completion_tokens = 0;
    std::vector<TokenClock> clocks;
  };
  auto state = std::make_shared<StreamState>(n, model_id, arrived);
  const tokenize::Tokenizer* tokp = &tok;
  res.set_header("Cache-Control", "no-cache");
  res.set_chunked_content_provider(
      "text/event-stream",
      [this, r, rid, model_id, channel, state, tokp, ticket, n, sources](size_t, httplib::DataSink& sink) {
        // The chunks of one take() go out in one write (one send, one wake-up of the client).
        std::string out;
        auto write = [&](const json& j) {
          out += "data: " + dump(j) + "\n\n";
          return true;
        };
        auto flush = [&] {
          const bool ok = out.empty() || sink.write(out.data(), out.size());
          out.clear();
          return ok;
        };
        auto end = [&] {
          out += "data: [DONE]\n\n";
          if (!flush()) return false;
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
        if (!flush()) return false;  // the role chunks at once
        auto events = channel->take(std::chrono::milliseconds(static_cast<int64_t>(options.keep_alive_s * 1000)));
        if (events.empty()) {
          out = ": keep-alive\n\n";
          return flush();
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
        return flush();
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
  metrics.embedded_tokens(m.id, tokens);
  send_json(res, 200, {{"object", "list"}, {"data", data}, {"model", m.id}, {"usage", {{"prompt_tokens", tokens}, {"total_tokens", tokens}}}});
}

}  // namespace cornerstone::serve
