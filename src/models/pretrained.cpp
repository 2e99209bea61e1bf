#include "cornerstone/models/pretrained.h"

#include "cornerstone/core/error.h"

namespace cornerstone::models {

std::vector<std::string> PretrainedModel::capabilities() const {
  std::vector<std::string> out;
  if (as<CausalLM>()) out.push_back("causal-lm");
  if (as<MaskedLM>()) out.push_back("masked-lm");
  out.push_back("embeddings");  // every model's hidden states pool into sentence embeddings
  return out;
}

std::vector<int32_t> checked_lengths(int64_t B, int64_t T, const Tensor& lengths, const char* op) {
  if (!lengths.defined()) return std::vector<int32_t>(static_cast<size_t>(B), static_cast<int32_t>(T));
  check_dtype(lengths, DType::I32, op, "lengths");
  if (lengths.numel() != B)
    throw ShapeError(std::string(op) + ": " + std::to_string(lengths.numel()) + " lengths for " + std::to_string(B) + " sequences");
  std::vector<int32_t> out = lengths.to_int_vector();
  for (int64_t b = 0; b < B; ++b)
    if (out[static_cast<size_t>(b)] < 1 || out[static_cast<size_t>(b)] > T)
      throw ValueError(std::string(op) + ": sequence " + std::to_string(b) + " has length " + std::to_string(out[static_cast<size_t>(b)]) +
                       ", outside [1, " + std::to_string(T) + "]");
  return out;
}

}  // namespace cornerstone::models
