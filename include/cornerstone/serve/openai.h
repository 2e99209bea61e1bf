// OpenAI's request and response schemas, as `cornerstone serve` speaks them: requests parsed and
// validated into what the scheduler needs (every bad field named), responses and stream chunks
// built as the official clients expect. Public for the fuzz harness (fuzz/fuzz_openai_request.cpp).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cornerstone/infer/scheduler.h"
#include "cornerstone/tokenize/chat_template.h"
#include "cornerstone/tokenize/tokenizer.h"

namespace cornerstone::serve {

// An error as the client sees it: {"error": {"message", "type", "param", "code"}} with `status`.
struct ApiError {
  ApiError(int status, std::string message, std::string type = "invalid_request_error", std::string param = "", std::string code = "",
           int retry_after = 0)
      : status(status), message(std::move(message)), type(std::move(type)), param(std::move(param)), code(std::move(code)),
        retry_after(retry_after) {}
  int status;
  std::string message;
  std::string type;
  std::string param;  // the request field at fault ("" -> null)
  std::string code;   // "" -> null
  int retry_after;    // seconds, for 429 / 503

  nlohmann::json body() const;
};
ApiError bad_field(const std::string& param, const std::string& message);  // 400 naming the field

// The body as a JSON object; 400 when it is not valid JSON or not an object.
nlohmann::json parse_body(const std::string& body);

// Which index, how many passages and how they are found: the fields of /v1/search, and of a chat
// request's "retrieval" (true for the defaults, or an object).
struct RetrievalRequest {
  std::string index;            // "" -> the first index served
  int64_t k = 4;                // passages (1..100)
  std::string mode = "hybrid";  // dense, bm25 or hybrid
};

// POST /v1/search: {"query", "index"?, "k"? (default 10), "mode"?}. Throws ApiError naming the field.
struct SearchRequest {
  std::string query;
  RetrievalRequest retrieval;
};
SearchRequest parse_search_request(const nlohmann::json& body);

// What /v1/chat/completions and /v1/completions ask for.
struct CompletionRequest {
  bool chat = false;
  std::string model;                         // "" when absent
  std::vector<tokenize::ChatMessage> messages;  // chat
  // Completions: the prompts, each as text or as token ids (prompt_ids[i] when prompt_texts[i] is
  // absent). Choice p * n + j is prompt p's choice j.
  std::vector<std::optional<std::string>> prompt_texts;
  std::vector<std::vector<int32_t>> prompt_ids;
  std::optional<int64_t> max_tokens;         // absent: up to the context
  infer::RequestOptions options;             // sampling, seed, stop strings, logprobs
  int64_t n = 1;                             // choices: choice i samples with seed + i
  bool logprobs = false;
  bool stream = false;
  bool include_usage = false;                // stream_options.include_usage
  // Chat only: retrieve passages for the last user message and answer from them (rag/ask.h).
  std::optional<RetrievalRequest> retrieval;
};
// Throws ApiError naming the field.
CompletionRequest parse_completion_request(const nlohmann::json& body, bool chat);

// The text of a chat message's content (a string or an array of text parts).
std::string message_content(const nlohmann::json& content, size_t index);

// A finished completion: what the scheduler reported, gathered.
struct Completion {
  std::string text;
  std::string finish_reason;  // OpenAI's: "stop" or "length"
  int64_t prompt_tokens = 0, completion_tokens = 0;
  std::vector<infer::SchedulerEvent> token_events;  // per token, with logprobs (when asked)
};

// OpenAI's finish reason for the scheduler's ("eos" and "stop" -> "stop").
std::string openai_finish_reason(const std::string& reason);

nlohmann::json usage_json(int64_t prompt_tokens, int64_t completion_tokens);
// Non-streamed responses.
// One choice per Completion; usage counts each prompt once and every choice's tokens.
nlohmann::json completion_response(const CompletionRequest& r, const std::string& id, int64_t created, const std::string& model,
                                   const std::vector<Completion>& choices, const tokenize::Tokenizer& tok);
// Stream chunks: the text of one event (with its logprobs), the end (finish_reason), the usage.
nlohmann::json chunk_json(const CompletionRequest& r, const std::string& id, int64_t created, const std::string& model);
nlohmann::json delta_chunk(const CompletionRequest& r, const std::string& id, int64_t created, const std::string& model, size_t index,
                           const std::string& text, const infer::SchedulerEvent* token_event, const tokenize::Tokenizer& tok,
                           const std::optional<std::string>& finish_reason, bool role = false);

// Logprobs in the chat shape ({"content": [{token, logprob, bytes, top_logprobs}]}) or the
// completions one ({tokens, token_logprobs, top_logprobs, text_offset}).
nlohmann::json logprobs_json(bool chat, const std::vector<infer::SchedulerEvent>& events, const tokenize::Tokenizer& tok,
                             int64_t text_offset);

// Standard base64 (RFC 4648, with padding).
std::string base64_encode(const void* data, size_t n);

}  // namespace cornerstone::serve
