// Labelled-task JSONL files: classification, tagging, instructions and retrieval pairs are read
// from the same input (each reader rejects what is not its shape).
#include "cornerstone/adapt/task_data.h"
#include "fuzz_util.h"

using namespace cornerstone;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = fuzz::write_scratch("set.jsonl", {reinterpret_cast<const char*>(data), size});
  fuzz::rejecting([&] {
    const auto v = adapt::read_classification(path);
    fuzz::g_sink += v.size() + adapt::label_set(v).size();
  });
  fuzz::rejecting([&] {
    const auto v = adapt::read_tagging(path);
    fuzz::g_sink += v.size() + adapt::tag_set(v).size();
  });
  fuzz::rejecting([&] { fuzz::g_sink += adapt::read_instructions(path).size(); });
  fuzz::rejecting([&] { fuzz::g_sink += adapt::read_retrieval_pairs(path).size(); });
  fuzz::rejecting([&] { fuzz::g_sink += adapt::read_label_list(path).size(); });
  return 0;
}
