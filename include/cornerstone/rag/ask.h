// Retrieval-augmented generation: the passages an index finds for a question, numbered as
// sources in the prompt, and the model's answer with the sources it cited.
//
//   Answer the question using the numbered sources. Cite the sources you use like [1].
//
//   [1] (path/to/doc.txt) passage text ...
//   [2] (...) ...
//
//   Question: ...
//   Answer:
//
// An instruction-tuned model gets the same text as the user turn of its chat template. Passages
// are added best first while the prompt plus the answer fit the model's context; the first one is
// shortened if even it alone would not fit.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "cornerstone/cornerstone.h"
#include "cornerstone/rag/index.h"

namespace cornerstone::rag {

struct AskOptions {
  SearchOptions search{SearchMode::Hybrid, 4};
  infer::GenerateOptions generate;
  bool chat = false;  // render the prompt with the model's chat template
};

struct Answer {
  std::string prompt;               // what the model read
  std::string text;                 // its answer
  std::string finish_reason;
  std::vector<SearchHit> sources;   // the passages in the prompt, numbered from 1
  std::vector<int64_t> cited;       // the source numbers the answer mentions ("[2]"), in order
};

// The prompt for a question and its passages (no fitting to a context).
std::string rag_prompt(const std::string& question, const std::vector<SearchHit>& passages);

// The passages of `hits` (best first) that fit: the longest prefix whose prompt, as
// `prompt_tokens` counts it, stays under `budget` tokens. When not even the best passage fits,
// that passage shortened word by word from its end until it does (none if nothing does).
std::vector<SearchHit> fit_passages(const std::vector<SearchHit>& hits,
                                    const std::function<int64_t(const std::vector<SearchHit>&)>& prompt_tokens, int64_t budget);

Answer ask(const Index& index, const Model& generator, const std::string& question, const AskOptions& options);

}  // namespace cornerstone::rag
