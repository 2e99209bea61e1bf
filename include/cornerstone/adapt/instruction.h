// Instruction tuning (supervised fine-tuning) data: prompt / response pairs rendered with the chat
// template that `cornerstone generate --chat` uses, tokenized, with the loss on the response only,
// and short examples packed into rows.
//
//   {"prompt": "Who gave the 1862 address?", "response": "Abraham Lincoln."}      (+ "system")
//     -> render_chat([system], user: prompt, <assistant turn opened>)   no loss (target -1)
//        response + the template's end of turn                           loss: the model learns
//        (+ the end-of-text token when the end of turn                   to answer, then to stop
//        is not a special token, as for plain)
//
// targets[i] is the token at i + 1 when that token belongs to a response, -1 elsewhere (the
// prompt, the boundary between packed examples, padding): GPT::loss ignores negative targets, so
// the loss is the mean over response tokens. The prompt and the response are tokenized
// separately, the way generation sees them (the prompt is encoded alone, the reply follows).
//
// Packing (opt-in, for training): examples are laid end to end into rows of at most max_length
// tokens in file order, first fit, never split across rows; fewer, fuller rows. Packed examples
// share a row's causal attention and positions (a later example sees the ones before it and sits
// at a later position, as in the common "packing" of SFT trainers); their targets never cross
// the boundary. Generation sees an example alone from position 0, so a model tuned on few
// examples learns them best unpacked; validation and `evaluate` always score them unpacked.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "cornerstone/adapt/task_data.h"
#include "cornerstone/tokenize/chat_template.h"
#include "cornerstone/tokenize/tokenizer.h"

namespace cornerstone::adapt {

struct SftRow {
  std::vector<int32_t> ids;
  std::vector<int32_t> targets;  // same length as ids; -1 where no loss is taken
};

struct SftData {
  std::vector<SftRow> rows;
  int64_t examples = 0;         // examples kept
  int64_t truncated = 0;        // examples cut at max_length (their response's tail is lost)
  int64_t skipped = 0;          // examples whose prompt alone fills max_length (nothing to learn)
  int64_t response_tokens = 0;  // targets taken, over all rows
};

// One example as a row (not cut).
SftRow encode_instruction(const InstructionExample& e, const tokenize::ChatTemplate& t, const tokenize::Tokenizer& tok);

// Cuts a row to max_length tokens (the last kept position loses its target: its next token is
// gone). False when no target is left (the prompt alone fills max_length).
bool cut_row(SftRow& row, int64_t max_length);

// Every example, cut to max_length, packed when `pack`. Throws ValueError naming `source` when no
// example is left (every prompt longer than max_length).
SftData encode_instructions(const std::vector<InstructionExample>& examples, const tokenize::ChatTemplate& t,
                            const tokenize::Tokenizer& tok, int64_t max_length, bool pack, const std::string& source);

}  // namespace cornerstone::adapt
