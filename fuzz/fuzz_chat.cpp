// Chat JSON (`cornerstone generate --chat FILE`): {"messages": [...]}, a bare array, or JSONL;
// accepted conversations are rendered with every built-in template.
#include "cornerstone/tokenize/chat_template.h"
#include "fuzz_util.h"

using namespace cornerstone;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::rejecting([&] {
    const auto messages = tokenize::parse_chat({reinterpret_cast<const char*>(data), size}, "chat.json");
    for (const auto& name : tokenize::chat_template_names())
      fuzz::rejecting([&] { fuzz::g_sink += tokenize::render_chat(messages, tokenize::chat_template(name), true).size(); });
  });
  return 0;
}
