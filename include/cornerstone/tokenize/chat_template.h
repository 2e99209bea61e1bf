// Chat prompting: a conversation (system / user / assistant turns, few-shot examples included) as
// the text a model was trained to continue, the way users prompt LLMs. Built-in templates:
//
//   chatml  <|im_start|>system\nYou are terse.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n
//           <|im_start|>assistant\n                       (the default for Cornerstone models: the
//           markers are single tokens when the tokenizer has them as added tokens)
//   plain   System: You are terse.\n\nUser: Hi\n\nAssistant:
//           (for tokenizers without chat tokens, e.g. a model pretrained on plain text)
//
// A model folder names its template in config.json ("chat_template": "chatml"); without one,
// chatml is chosen when the tokenizer has <|im_start|> and <|im_end|>, plain otherwise. The
// instruction-tuning data pipeline renders its training conversations with the same function, so a
// model is prompted exactly as it was tuned.
//
//   auto msgs = parse_chat(R"({"messages": [{"role": "user", "content": "Hi"}]})", "chat.json");
//   ChatTemplate t = chat_template_for("runs/sft", tokenizer);
//   std::string prompt = render_chat(msgs, t, /*add_generation_prompt=*/true);
//   options.stop = t.stop_strings;  options.stop_tokens = t.stop_token_ids(tokenizer);
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "cornerstone/tokenize/tokenizer.h"

namespace cornerstone::tokenize {

struct ChatMessage {
  std::string role;  // "system", "user" or "assistant"
  std::string content;
};

struct ChatTemplate {
  std::string name;
  std::string turn_begin;        // before the role name: "<|im_start|>" / ""
  std::string role_end;          // after the role name: "\n" / ": "
  std::string turn_end;          // after the content: "<|im_end|>\n" / "\n\n"
  bool capitalize_roles = false; // "User" instead of "user"
  std::string generation_role_end;   // after the opened assistant turn's role: "\n" / ":"
  std::vector<std::string> stop_strings;  // text that ends the assistant's turn

  // Ids of the stop strings that are single (special) tokens of `tok`: generation stops on them
  // (a tokenizer skips special tokens when decoding, so the strings alone would never match).
  std::vector<int32_t> stop_token_ids(const tokenize::Tokenizer& tok) const;
  // What a reply's content follows in a full assistant turn but the generation prompt leaves out:
  // the rest of role_end after generation_role_end (plain: " " of ": " after ":"; chatml: "").
  // Trained and scored replies start with it, so they are exactly what generation continues.
  std::string reply_lead() const;
};

// "chatml" or "plain"; throws ValueError listing the names.
ChatTemplate chat_template(std::string_view name);
std::vector<std::string> chat_template_names();

// The template of a model folder (see above). Throws FormatError for an unknown name in config.json.
ChatTemplate chat_template_for(const std::string& model_dir, const tokenize::Tokenizer& tok);

// The conversation as text; with add_generation_prompt an assistant turn is opened at the end.
// Throws ValueError for an empty conversation or a role other than system / user / assistant.
std::string render_chat(const std::vector<ChatMessage>& messages, const ChatTemplate& t, bool add_generation_prompt);

// Messages from JSON: {"messages": [{"role": ..., "content": ...}, ...]}, a bare array of them, or
// JSONL with one message object per line. Throws FormatError naming `where` and the message index.
std::vector<ChatMessage> parse_chat(std::string_view text, const std::string& where);

}  // namespace cornerstone::tokenize
