#include "cornerstone/tokenize/chat_template.h"

#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cornerstone/core/error.h"
#include "cornerstone/io/atomic_file.h"

namespace cornerstone::tokenize {

namespace fs = std::filesystem;

std::vector<std::string> chat_template_names() { return {"chatml", "plain"}; }

ChatTemplate chat_template(std::string_view name) {
  if (name == "chatml") return {"chatml", "<|im_start|>", "\n", "<|im_end|>\n", false, "\n", {"<|im_end|>", "<|im_start|>"}};
  if (name == "plain") return {"plain", "", ": ", "\n\n", true, ":", {"\nUser:", "\nSystem:"}};
  throw ValueError("unknown chat template '" + std::string(name) + "' (built-in templates: chatml, plain)");
}

std::string ChatTemplate::reply_lead() const {
  return role_end.rfind(generation_role_end, 0) == 0 ? role_end.substr(generation_role_end.size()) : "";
}

std::vector<int32_t> ChatTemplate::stop_token_ids(const tokenize::Tokenizer& tok) const {
  std::vector<int32_t> ids;
  for (const std::string& s : stop_strings)
    if (auto id = tok.token_to_id(s); id && tok.is_special(*id)) ids.push_back(*id);
  return ids;
}

ChatTemplate chat_template_for(const std::string& model_dir, const tokenize::Tokenizer& tok) {
  const fs::path cfg = fs::path(model_dir) / "config.json";
  if (fs::exists(cfg)) {
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(io::read_file(cfg.string()));
    } catch (const nlohmann::json::exception& e) {
      throw FormatError(cfg.string() + ": not valid JSON: " + e.what());
    }
    if (j.contains("chat_template") && j["chat_template"].is_string()) {
      try {
        return chat_template(j["chat_template"].get<std::string>());
      } catch (const ValueError& e) {
        throw FormatError(cfg.string() + ": chat_template: " + e.what());
      }
    }
  }
  const bool chatml = tok.token_to_id("<|im_start|>") && tok.token_to_id("<|im_end|>");
  return chat_template(chatml ? "chatml" : "plain");
}

std::string render_chat(const std::vector<ChatMessage>& messages, const ChatTemplate& t, bool add_generation_prompt) {
  if (messages.empty()) throw ValueError("chat: the conversation has no messages");
  auto role_name = [&](std::string r) {
    if (t.capitalize_roles && !r.empty()) r[0] = static_cast<char>(r[0] - 'a' + 'A');
    return r;
  };
  std::string out;
  for (size_t i = 0; i < messages.size(); ++i) {
    const ChatMessage& m = messages[i];
    if (m.role != "system" && m.role != "user" && m.role != "assistant")
      throw ValueError("chat: message " + std::to_string(i) + " has role '" + m.role + "' (expected system, user or assistant)");
    out += t.turn_begin + role_name(m.role) + t.role_end + m.content + t.turn_end;
  }
  if (add_generation_prompt) out += t.turn_begin + role_name("assistant") + t.generation_role_end;
  return out;
}

namespace {

ChatMessage message_from(const nlohmann::json& m, const std::string& where, size_t i) {
  const std::string at = where + ": message " + std::to_string(i);
  if (!m.is_object()) throw FormatError(at + " is not an object with \"role\" and \"content\"");
  for (const char* key : {"role", "content"})
    if (!m.contains(key) || !m[key].is_string()) throw FormatError(at + ": \"" + key + "\" must be a string");
  return {m["role"].get<std::string>(), m["content"].get<std::string>()};
}

}  // namespace

std::vector<ChatMessage> parse_chat(std::string_view text, const std::string& where) {
  std::vector<ChatMessage> out;
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_discarded()) {
    const nlohmann::json* list = &j;
    if (j.is_object() && j.contains("role")) return {message_from(j, where, 0)};  // JSONL of one message
    if (j.is_object()) {
      if (!j.contains("messages")) throw FormatError(where + ": expected {\"messages\": [...]}");
      list = &j["messages"];
    }
    if (!list->is_array()) throw FormatError(where + ": \"messages\" must be an array");
    for (size_t i = 0; i < list->size(); ++i) out.push_back(message_from((*list)[i], where, i));
    return out;
  }
  // JSONL: one message per line.
  std::istringstream in{std::string(text)};
  size_t line_no = 0;
  for (std::string line; std::getline(in, line);) {
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const nlohmann::json m = nlohmann::json::parse(line, nullptr, false);
    if (m.is_discarded())
      throw FormatError(where + ": line " + std::to_string(line_no) + " is not JSON (expected a JSON conversation or JSONL messages)");
    out.push_back(message_from(m, where, out.size()));
  }
  if (out.empty()) throw FormatError(where + ": no messages");
  return out;
}

}  // namespace cornerstone::tokenize
