#include "cornerstone/serve/openai.h"

#include <algorithm>
#include <cmath>

namespace cornerstone::serve {

using nlohmann::json;

json ApiError::body() const {
  json e = {{"message", message}, {"type", type}, {"param", nullptr}, {"code", nullptr}};
  if (!param.empty()) e["param"] = param;
  if (!code.empty()) e["code"] = code;
  return json{{"error", e}};
}

ApiError bad_field(const std::string& param, const std::string& message) { return ApiError{400, message, "invalid_request_error", param, ""}; }

json parse_body(const std::string& body) {
  json j;
  try {
    j = json::parse(body);
  } catch (const json::exception& e) {  // parse_error, and out_of_range for a number too large for a double
    throw ApiError{400, std::string("the body is not valid JSON: ") + e.what(), "invalid_request_error", "", "invalid_json"};
  }
  if (!j.is_object()) throw ApiError{400, "the body must be a JSON object", "invalid_request_error", "", "invalid_json"};
  return j;
}

namespace {

// The field when present and not null.
const json* field(const json& body, const char* name) {
  auto it = body.find(name);
  return it == body.end() || it->is_null() ? nullptr : &*it;
}

double number(const json& body, const char* name, double lo, double hi) {
  const json& v = body.at(name);
  if (!v.is_number()) throw bad_field(name, std::string("'") + name + "' must be a number");
  const double x = v.get<double>();
  if (!std::isfinite(x) || x < lo || x > hi)
    throw bad_field(name, std::string("'") + name + "' must be between " + json(lo).dump() + " and " + json(hi).dump() + ", got " + v.dump());
  return x;
}

// `prefix` names the object holding the field in errors ("retrieval." -> 'retrieval.k').
int64_t integer(const json& body, const char* name, int64_t lo, int64_t hi, const std::string& prefix = "") {
  const json& v = body.at(name);
  const std::string param = prefix + name;
  if (!v.is_number_integer()) throw bad_field(param, "'" + param + "' must be an integer");
  // Unsigned values above int64's range are out of range too.
  if (v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(hi))
    throw bad_field(param, "'" + param + "' must be at most " + std::to_string(hi) + ", got " + v.dump());
  const int64_t x = v.get<int64_t>();
  if (x < lo || x > hi)
    throw bad_field(param, "'" + param + "' must be between " + std::to_string(lo) + " and " + std::to_string(hi) + ", got " + v.dump());
  return x;
}

std::string string_field(const json& body, const char* name, const std::string& prefix = "") {
  const json& v = body.at(name);
  const std::string param = prefix + name;
  if (!v.is_string()) throw bad_field(param, "'" + param + "' must be a string");
  return v.get<std::string>();
}

// The fields /v1/search and chat's "retrieval" share: index, k, mode.
RetrievalRequest retrieval_fields(const json& obj, const std::string& prefix, int64_t default_k) {
  RetrievalRequest r;
  r.k = default_k;
  if (field(obj, "index")) r.index = string_field(obj, "index", prefix);
  if (field(obj, "k")) r.k = integer(obj, "k", 1, 100, prefix);
  if (field(obj, "mode")) {
    r.mode = string_field(obj, "mode", prefix);
    if (r.mode != "dense" && r.mode != "bm25" && r.mode != "hybrid")
      throw bad_field(prefix + "mode", "'" + prefix + "mode' must be \"dense\", \"bm25\" or \"hybrid\", got '" + r.mode + "'");
  }
  for (const auto& [key, value] : obj.items()) {
    const bool known = key == "index" || key == "k" || key == "mode" || (prefix.empty() && key == "query");
    if (!known) throw bad_field(prefix + key, "unknown field '" + prefix + key + "' (index, k and mode are)");
  }
  return r;
}

bool boolean(const json& body, const char* name) {
  const json& v = body.at(name);
  if (!v.is_boolean()) throw bad_field(name, std::string("'") + name + "' must be true or false");
  return v.get<bool>();
}

ApiError unsupported(const std::string& param, const std::string& what) {
  return ApiError{400, what + " is not supported yet", "invalid_request_error", param, "unsupported_parameter"};
}

}  // namespace

std::string message_content(const json& content, size_t index) {
  const std::string where = "messages[" + std::to_string(index) + "].content";
  if (content.is_string()) return content.get<std::string>();
  if (content.is_null()) return "";
  if (!content.is_array()) throw bad_field(where, "'" + where + "' must be a string or an array of text parts");
  std::string text;
  for (size_t k = 0; k < content.size(); ++k) {
    const json& part = content[k];
    const std::string at = where + "[" + std::to_string(k) + "]";
    if (!part.is_object() || !part.contains("type") || !part["type"].is_string())
      throw bad_field(at, "'" + at + "' must be an object with a \"type\"");
    if (part["type"] != "text") throw unsupported(at, "content of type '" + part["type"].get<std::string>() + "'");
    if (!part.contains("text") || !part["text"].is_string()) throw bad_field(at + ".text", "'" + at + ".text' must be a string");
    text += part["text"].get<std::string>();
  }
  return text;
}

CompletionRequest parse_completion_request(const json& body, bool chat) {
  CompletionRequest r;
  r.chat = chat;
  if (const json* m = field(body, "model")) {
    if (!m->is_string()) throw bad_field("model", "'model' must be a string");
    r.model = m->get<std::string>();
  }
  if (chat) {
    const json* msgs = field(body, "messages");
    if (!msgs) throw bad_field("messages", "'messages' is required");
    if (!msgs->is_array() || msgs->empty()) throw bad_field("messages", "'messages' must be a non-empty array");
    for (size_t i = 0; i < msgs->size(); ++i) {
      const json& m = (*msgs)[i];
      const std::string at = "messages[" + std::to_string(i) + "]";
      if (!m.is_object()) throw bad_field(at, "'" + at + "' must be an object");
      if (!m.contains("role") || !m["role"].is_string()) throw bad_field(at + ".role", "'" + at + ".role' must be a string");
      std::string role = m["role"].get<std::string>();
      if (role == "developer") role = "system";  // OpenAI's newer name for the system role
      if (role != "system" && role != "user" && role != "assistant") {
        if (role == "tool" || role == "function") throw unsupported(at + ".role", "the '" + role + "' role (tool calls)");
        throw bad_field(at + ".role", "'" + at + ".role' must be system, developer, user or assistant, got '" + role + "'");
      }
      if (m.contains("tool_calls")) throw unsupported(at + ".tool_calls", "tool calls");
      r.messages.push_back({role, message_content(m.contains("content") ? m["content"] : json(), i)});
    }
    for (const char* name : {"tools", "functions", "tool_choice", "function_call"})
      if (field(body, name)) throw unsupported(name, std::string("'") + name + "'");
  } else {
    const json* p = field(body, "prompt");
    if (!p) throw bad_field("prompt", "'prompt' is required");
    auto token_ids = [](const json& a, const std::string& where) {
      std::vector<int32_t> ids;
      for (const json& t : a) {
        const int64_t id = t.get<int64_t>();
        if (id < 0 || id > INT32_MAX) throw bad_field("prompt", "token id " + t.dump() + " in '" + where + "' is out of range");
        ids.push_back(static_cast<int32_t>(id));
      }
      return ids;
    };
    auto all_ints = [](const json& a) { return a.is_array() && !a.empty() && std::all_of(a.begin(), a.end(), [](const json& t) { return t.is_number_integer(); }); };
    const char* shape = "'prompt' must be a string, token ids, or a non-empty array of strings or of token-id arrays";
    if (p->is_string()) {
      r.prompt_texts.push_back(p->get<std::string>());
    } else if (all_ints(*p)) {
      r.prompt_texts.push_back(std::nullopt);
      r.prompt_ids.push_back(token_ids(*p, "prompt"));
    } else if (p->is_array() && !p->empty()) {
      if (p->size() > 16) throw bad_field("prompt", "at most 16 prompts per request, got " + std::to_string(p->size()));
      for (size_t i = 0; i < p->size(); ++i) {
        const json& x = (*p)[i];
        if (x.is_string()) {
          r.prompt_texts.push_back(x.get<std::string>());
          r.prompt_ids.emplace_back();
        } else if (all_ints(x)) {
          r.prompt_texts.push_back(std::nullopt);
          r.prompt_ids.push_back(token_ids(x, "prompt[" + std::to_string(i) + "]"));
        } else {
          throw bad_field("prompt", shape);
        }
      }
    } else {
      throw bad_field("prompt", shape);
    }
    r.prompt_ids.resize(r.prompt_texts.size());
    if (field(body, "echo") && boolean(body, "echo")) throw unsupported("echo", "'echo'");
    if (field(body, "suffix")) throw unsupported("suffix", "'suffix'");
    if (field(body, "best_of") && integer(body, "best_of", 1, 1 << 20) != 1) throw unsupported("best_of", "best_of > 1");
  }

  infer::RequestOptions& o = r.options;
  o.sampling = infer::SamplingParams{};
  o.sampling.temperature = 1.0f;  // OpenAI's default
  if (field(body, "temperature")) o.sampling.temperature = static_cast<float>(number(body, "temperature", 0, 2));
  if (o.sampling.temperature == 0) o.sampling.greedy = true;
  if (field(body, "top_p")) {
    o.sampling.top_p = static_cast<float>(number(body, "top_p", 0, 1));
    if (o.sampling.top_p == 0) o.sampling.greedy = true;  // nothing but the top token
  }
  if (field(body, "presence_penalty")) o.sampling.presence_penalty = static_cast<float>(number(body, "presence_penalty", -2, 2));
  if (field(body, "frequency_penalty") && number(body, "frequency_penalty", -2, 2) != 0)
    throw unsupported("frequency_penalty", "a non-zero 'frequency_penalty'");
  if (field(body, "logit_bias") && !(body["logit_bias"].is_object() && body["logit_bias"].empty()))
    throw unsupported("logit_bias", "'logit_bias'");
  if (field(body, "seed")) o.seed = static_cast<uint64_t>(integer(body, "seed", INT64_MIN, INT64_MAX));
  if (field(body, "n")) r.n = integer(body, "n", 1, 16);
  if (!chat && r.n * static_cast<int64_t>(r.prompt_texts.size()) > 16)
    throw bad_field("n", "prompts x n is " + std::to_string(r.n * static_cast<int64_t>(r.prompt_texts.size())) + "; at most 16 choices per request");

  const char* max_name = chat && field(body, "max_completion_tokens") ? "max_completion_tokens" : "max_tokens";
  if (field(body, max_name)) r.max_tokens = integer(body, max_name, 0, INT32_MAX);

  if (const json* s = field(body, "stop")) {
    if (s->is_string()) {
      o.stop.push_back(s->get<std::string>());
    } else if (s->is_array() && s->size() <= 4) {
      for (const json& x : *s) {
        if (!x.is_string()) throw bad_field("stop", "'stop' must be a string or an array of up to 4 strings");
        o.stop.push_back(x.get<std::string>());
      }
    } else {
      throw bad_field("stop", "'stop' must be a string or an array of up to 4 strings");
    }
    for (const std::string& x : o.stop)
      if (x.empty()) throw bad_field("stop", "'stop' strings must not be empty");
  }

  if (chat) {
    if (field(body, "logprobs")) r.logprobs = boolean(body, "logprobs");
    if (field(body, "top_logprobs")) {
      const int64_t k = integer(body, "top_logprobs", 0, 20);
      if (!r.logprobs) throw bad_field("top_logprobs", "'top_logprobs' needs \"logprobs\": true");
      o.top_logprobs = k;
    } else if (r.logprobs) {
      o.top_logprobs = 0;
    }
  } else if (field(body, "logprobs")) {
    o.top_logprobs = integer(body, "logprobs", 0, 5);
    r.logprobs = true;
  }

  if (const json* f = field(body, "response_format")) {
    if (!f->is_object() || !f->contains("type") || !(*f)["type"].is_string())
      throw bad_field("response_format", "'response_format' must be an object with a \"type\"");
    const std::string type = (*f)["type"].get<std::string>();
    if (type == "json_object")
      o.json_object = true;  // constrained decoding: the output is one JSON object (infer/json_constraint.h)
    else if (type != "text")
      throw unsupported("response_format", "response_format '" + type + "'");
  }

  if (const json* rt = field(body, "retrieval")) {
    if (!chat) throw bad_field("retrieval", "'retrieval' is only supported on /v1/chat/completions");
    if (rt->is_boolean()) {
      if (rt->get<bool>()) r.retrieval = RetrievalRequest{};
    } else if (rt->is_object()) {
      r.retrieval = retrieval_fields(*rt, "retrieval.", RetrievalRequest{}.k);
    } else {
      throw bad_field("retrieval", "'retrieval' must be true, false or an object {\"index\", \"k\", \"mode\"}");
    }
    if (r.retrieval && (r.messages.empty() || r.messages.back().role != "user" || r.messages.back().content.empty()))
      throw bad_field("messages", "with 'retrieval', the last message must be the user's question (its text is the search query)");
  }

  if (field(body, "stream")) r.stream = boolean(body, "stream");
  if (const json* so = field(body, "stream_options")) {
    if (!so->is_object()) throw bad_field("stream_options", "'stream_options' must be an object");
    if (!r.stream) throw bad_field("stream_options", "'stream_options' is only allowed with \"stream\": true");
    if (so->contains("include_usage") && !(*so)["include_usage"].is_null()) {
      if (!(*so)["include_usage"].is_boolean()) throw bad_field("stream_options.include_usage", "'stream_options.include_usage' must be true or false");
      r.include_usage = (*so)["include_usage"].get<bool>();
    }
  }
  return r;
}

SearchRequest parse_search_request(const json& body) {
  SearchRequest r;
  const json* q = field(body, "query");
  if (!q) throw bad_field("query", "'query' is required");
  r.query = string_field(body, "query");
  if (r.query.find_first_not_of(" \t\r\n") == std::string::npos) throw bad_field("query", "'query' is empty");
  r.retrieval = retrieval_fields(body, "", 10);
  return r;
}

std::string openai_finish_reason(const std::string& reason) { return reason == "length" ? "length" : "stop"; }

json usage_json(int64_t prompt_tokens, int64_t completion_tokens) {
  return {{"prompt_tokens", prompt_tokens}, {"completion_tokens", completion_tokens}, {"total_tokens", prompt_tokens + completion_tokens}};
}

namespace {

std::string token_text(const tokenize::Tokenizer& tok, int32_t id) {
  const int32_t one[1] = {id};
  return tok.decode(one);
}

json bytes_of(const std::string& s) {
  json b = json::array();
  for (unsigned char c : s) b.push_back(static_cast<int>(c));
  return b;
}

}  // namespace

json logprobs_json(bool chat, const std::vector<infer::SchedulerEvent>& events, const tokenize::Tokenizer& tok, int64_t text_offset) {
  if (chat) {
    json content = json::array();
    for (const auto& e : events) {
      if (!e.logprob) continue;
      const std::string t = token_text(tok, e.logprob->token);
      json top = json::array();
      for (const auto& alt : e.top_logprobs) {
        const std::string a = token_text(tok, alt.token);
        top.push_back({{"token", a}, {"logprob", alt.logprob}, {"bytes", bytes_of(a)}});
      }
      content.push_back({{"token", t}, {"logprob", e.logprob->logprob}, {"bytes", bytes_of(t)}, {"top_logprobs", top}});
    }
    return {{"content", content}, {"refusal", nullptr}};
  }
  json tokens = json::array(), lps = json::array(), tops = json::array(), offsets = json::array();
  for (const auto& e : events) {
    if (!e.logprob) continue;
    const std::string t = token_text(tok, e.logprob->token);
    tokens.push_back(t);
    lps.push_back(e.logprob->logprob);
    json top = json::object();
    for (const auto& alt : e.top_logprobs) top[token_text(tok, alt.token)] = alt.logprob;
    tops.push_back(top);
    offsets.push_back(text_offset);
    text_offset += static_cast<int64_t>(t.size());
  }
  return {{"tokens", tokens}, {"token_logprobs", lps}, {"top_logprobs", tops}, {"text_offset", offsets}};
}

json completion_response(const CompletionRequest& r, const std::string& id, int64_t created, const std::string& model,
                         const std::vector<Completion>& choices, const tokenize::Tokenizer& tok) {
  json out = json::array();
  int64_t prompt_tokens = 0, completion_tokens = 0;
  for (size_t i = 0; i < choices.size(); ++i) {
    const Completion& c = choices[i];
    json choice = {{"index", i}, {"finish_reason", c.finish_reason}, {"logprobs", nullptr}};
    if (r.logprobs) choice["logprobs"] = logprobs_json(r.chat, c.token_events, tok, 0);
    if (r.chat)
      choice["message"] = {{"role", "assistant"}, {"content", c.text}, {"refusal", nullptr}};
    else
      choice["text"] = c.text;
    out.push_back(std::move(choice));
    if (i % static_cast<size_t>(r.n) == 0) prompt_tokens += c.prompt_tokens;  // each prompt once, not per choice
    completion_tokens += c.completion_tokens;
  }
  return {{"id", id},
          {"object", r.chat ? "chat.completion" : "text_completion"},
          {"created", created},
          {"model", model},
          {"system_fingerprint", nullptr},
          {"choices", out},
          {"usage", usage_json(prompt_tokens, completion_tokens)}};
}

json chunk_json(const CompletionRequest& r, const std::string& id, int64_t created, const std::string& model) {
  json j = {{"id", id},
            {"object", r.chat ? "chat.completion.chunk" : "text_completion"},
            {"created", created},
            {"model", model},
            {"system_fingerprint", nullptr},
            {"choices", json::array()}};
  if (r.include_usage) j["usage"] = nullptr;
  return j;
}

json delta_chunk(const CompletionRequest& r, const std::string& id, int64_t created, const std::string& model, size_t index,
                 const std::string& text, const infer::SchedulerEvent* token_event, const tokenize::Tokenizer& tok,
                 const std::optional<std::string>& finish_reason, bool role) {
  json j = chunk_json(r, id, created, model);
  json choice = {{"index", index}, {"logprobs", nullptr}, {"finish_reason", nullptr}};
  if (finish_reason) choice["finish_reason"] = *finish_reason;
  if (r.chat) {
    json delta = json::object();
    if (role) delta["role"] = "assistant";
    if (role || !text.empty()) delta["content"] = text;
    choice["delta"] = delta;
  } else {
    choice["text"] = text;
  }
  if (r.logprobs && token_event && token_event->logprob) choice["logprobs"] = logprobs_json(r.chat, {*token_event}, tok, 0);
  j["choices"].push_back(choice);
  return j;
}

std::string base64_encode(const void* data, size_t n) {
  static const char* abc = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  const auto* p = static_cast<const unsigned char*>(data);
  std::string out;
  out.reserve((n + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= n; i += 3) {
    const uint32_t v = (uint32_t(p[i]) << 16) | (uint32_t(p[i + 1]) << 8) | p[i + 2];
    out += abc[v >> 18], out += abc[(v >> 12) & 63], out += abc[(v >> 6) & 63], out += abc[v & 63];
  }
  if (n - i == 1) {
    const uint32_t v = uint32_t(p[i]) << 16;
    out += abc[v >> 18], out += abc[(v >> 12) & 63], out += "==";
  } else if (n - i == 2) {
    const uint32_t v = (uint32_t(p[i]) << 16) | (uint32_t(p[i + 1]) << 8);
    out += abc[v >> 18], out += abc[(v >> 12) & 63], out += abc[(v >> 6) & 63], out += '=';
  }
  return out;
}

}  // namespace cornerstone::serve
