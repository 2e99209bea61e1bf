#include "cornerstone/rag/ask.h"

#include <algorithm>
#include <cctype>

#include "cornerstone/core/error.h"
#include "cornerstone/tokenize/chat_template.h"

namespace cornerstone::rag {

namespace {

constexpr const char* kInstruction = "Answer the question using the numbered sources. Cite the sources you use like [1].";

std::string render(const Model& m, const std::string& question, const std::vector<SearchHit>& passages, bool chat) {
  const std::string text = rag_prompt(question, passages);
  if (!chat) return text;
  return tokenize::render_chat({{"user", text}}, m.chat_template(), /*add_generation_prompt=*/true);
}

int64_t token_count(const Model& m, const std::string& text) { return static_cast<int64_t>(m.tokenizer().encode(text).size()); }

// The source numbers "[n]" in the answer (1 <= n <= sources), first mention first.
std::vector<int64_t> citations(const std::string& text, size_t sources) {
  std::vector<int64_t> out;
  for (size_t i = text.find('['); i != std::string::npos; i = text.find('[', i + 1)) {
    size_t j = i + 1;
    int64_t n = 0;
    while (j < text.size() && j < i + 4 && std::isdigit(static_cast<unsigned char>(text[j]))) n = n * 10 + (text[j++] - '0');
    if (j == i + 1 || j >= text.size() || text[j] != ']' || n < 1 || n > static_cast<int64_t>(sources)) continue;
    if (std::find(out.begin(), out.end(), n) == out.end()) out.push_back(n);
  }
  return out;
}

}  // namespace

std::string rag_prompt(const std::string& question, const std::vector<SearchHit>& passages) {
  std::string p = std::string(kInstruction) + "\n\n";
  for (size_t i = 0; i < passages.size(); ++i) {
    std::string text = passages[i].chunk.text;
    for (char& c : text)
      if (c == '\n' || c == '\r') c = ' ';
    p += "[" + std::to_string(i + 1) + "] (" + passages[i].chunk.source + ") " + text + "\n";
  }
  return p + "\nQuestion: " + question + "\nAnswer:";
}

std::vector<SearchHit> fit_passages(const std::vector<SearchHit>& hits,
                                    const std::function<int64_t(const std::vector<SearchHit>&)>& prompt_tokens, int64_t budget) {
  std::vector<SearchHit> fit;
  for (const auto& h : hits) {  // best first, while they fit
    fit.push_back(h);
    if (prompt_tokens(fit) < budget) continue;
    fit.pop_back();
    if (!fit.empty()) break;
    SearchHit cut = h;  // the best passage alone is too long: shorten it, word by word from its end
    std::string& t = cut.chunk.text;
    while (!t.empty()) {
      const size_t sp = t.find_last_of(" \n\t");
      t.resize(sp == std::string::npos ? 0 : sp);
      if (prompt_tokens({cut}) < budget) return {cut};
    }
    break;
  }
  return fit;
}

Answer ask(const Index& index, const Model& generator, const std::string& question, const AskOptions& o) {
  if (!generator.can(Capability::CausalLM)) throw ValueError("ask: '" + generator.path() + "' does not generate text (" + generator.describe() + ")");
  const auto hits = index.search(question, o.search);
  const int64_t budget = generator.context() - o.generate.max_tokens;
  if (token_count(generator, render(generator, question, {}, o.chat)) >= budget)
    throw ValueError("ask: the question and --max-tokens " + std::to_string(o.generate.max_tokens) + " leave no room in the model's " +
                     std::to_string(generator.context()) + "-token context");
  Answer a;
  a.sources = fit_passages(
      hits, [&](const std::vector<SearchHit>& passages) { return token_count(generator, render(generator, question, passages, o.chat)); }, budget);
  a.prompt = render(generator, question, a.sources, o.chat);
  infer::GenerateOptions g = o.generate;
  if (o.chat) {
    const auto t = generator.chat_template();
    for (const auto& s : t.stop_strings) g.stop.push_back(s);
    for (int32_t id : t.stop_token_ids(generator.tokenizer())) g.stop_tokens.push_back(id);
  } else {
    g.stop.push_back("\nQuestion:");  // a base model would go on to ask itself the next one
  }
  const auto out = generator.generate({a.prompt}, g);
  a.text = out.at(0).text;
  a.finish_reason = out.at(0).finish_reason;
  a.cited = citations(a.text, a.sources.size());
  return a;
}

}  // namespace cornerstone::rag
