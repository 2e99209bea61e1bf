// The server's request parsing (`cornerstone serve`, include/cornerstone/serve/openai.h): any HTTP
// body, as a chat completion, as a completion request and as a /v1/search request. A rejection is an ApiError (a 400 for
// the client) or a cornerstone::Error; anything else escaping, or a crash, is a finding.
#include "cornerstone/core/error.h"
#include "cornerstone/serve/openai.h"
#include "fuzz_util.h"

using namespace cornerstone;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string body(reinterpret_cast<const char*>(data), size);
  for (bool chat : {true, false}) {
    try {
      const serve::CompletionRequest r = serve::parse_completion_request(serve::parse_body(body), chat);
      fuzz::g_sink += r.messages.size() + r.prompt_texts.size() + r.prompt_ids.size() + r.options.stop.size();
      r.options.sampling.validate();
    } catch (const serve::ApiError& e) {
      fuzz::g_sink += e.body().dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).size();  // as the server sends it
    } catch (const Error&) {
    }
  }
  try {
    const serve::SearchRequest r = serve::parse_search_request(serve::parse_body(body));
    fuzz::g_sink += r.query.size() + r.retrieval.index.size() + static_cast<uint64_t>(r.retrieval.k);
  } catch (const serve::ApiError& e) {
    fuzz::g_sink += e.body().dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).size();
  } catch (const Error&) {
  }
  return 0;
}
