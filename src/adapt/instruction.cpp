#include "cornerstone/adapt/instruction.h"

#include <algorithm>

#include "cornerstone/core/error.h"

namespace cornerstone::adapt {

SftRow encode_instruction(const InstructionExample& e, const tokenize::ChatTemplate& t, const tokenize::Tokenizer& tok) {
  std::vector<tokenize::ChatMessage> messages;
  if (!e.system.empty()) messages.push_back({"system", e.system});
  messages.push_back({"user", e.prompt});
  const std::vector<int32_t> prompt = tok.encode(tokenize::render_chat(messages, t, /*add_generation_prompt=*/true));
  // The rest of the assistant's role marker opens the response (ChatTemplate::reply_lead), so a
  // trained reply is exactly what generation continues.
  std::vector<int32_t> response = tok.encode(t.reply_lead() + e.response + t.turn_end);
  // A template whose end of turn is plain text (plain's "\n\n") gives generation nothing to stop
  // on but a later "\nUser:"; the tokenizer's end-of-text token after the turn teaches the model
  // to stop, and generation stops there. chatml's <|im_end|> is such a token already.
  if (t.stop_token_ids(tok).empty() && tok.eos_id()) response.push_back(*tok.eos_id());
  SftRow row;
  row.ids = prompt;
  row.ids.insert(row.ids.end(), response.begin(), response.end());
  row.targets.assign(row.ids.size(), -1);
  for (size_t i = prompt.size(); i < row.ids.size(); ++i)
    if (i > 0) row.targets[i - 1] = row.ids[i];
  return row;
}

bool cut_row(SftRow& row, int64_t max_length) {
  const size_t cap = static_cast<size_t>(max_length);
  if (row.ids.size() > cap) {
    row.ids.resize(cap);
    row.targets.resize(cap);
    row.targets.back() = -1;  // its next token was cut
  }
  for (int32_t x : row.targets)
    if (x >= 0) return true;
  return false;
}

SftData encode_instructions(const std::vector<InstructionExample>& examples, const tokenize::ChatTemplate& t,
                            const tokenize::Tokenizer& tok, int64_t max_length, bool pack, const std::string& source) {
  if (max_length < 2) throw ValueError("sft: max_length must be at least 2");
  const size_t cap = static_cast<size_t>(max_length);
  SftData out;
  SftRow open;
  for (const InstructionExample& e : examples) {
    SftRow row = encode_instruction(e, t, tok);
    out.truncated += row.ids.size() > cap;
    if (!cut_row(row, max_length)) {
      ++out.skipped;
      continue;
    }
    int64_t n = 0;
    for (int32_t x : row.targets) n += x >= 0;
    ++out.examples;
    out.response_tokens += n;
    if (!pack) {
      out.rows.push_back(std::move(row));
      continue;
    }
    if (open.ids.size() + row.ids.size() > cap) {
      out.rows.push_back(std::move(open));
      open = SftRow{};
    }
    open.ids.insert(open.ids.end(), row.ids.begin(), row.ids.end());
    open.targets.insert(open.targets.end(), row.targets.begin(), row.targets.end());
  }
  if (!open.ids.empty()) out.rows.push_back(std::move(open));
  if (out.rows.empty())
    throw ValueError(source + ": every example's prompt is at least " + std::to_string(max_length) +
                     " tokens long (--max-length): no response token is left to train on");
  return out;
}

}  // namespace cornerstone::adapt
