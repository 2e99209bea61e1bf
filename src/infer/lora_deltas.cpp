#include "cornerstone/infer/lora_deltas.h"

#include <algorithm>
#include <string>

#include "cornerstone/core/error.h"
#include "cornerstone/infer/inference_weights.h"

namespace cornerstone::infer {

int64_t LoRADeltas::max_rank() const {
  int64_t r = 0;
  for (const LoRALayerTerms& l : layers)
    for (const auto* terms : {&l.qkv, &l.proj, &l.up, &l.down})
      for (const LoRATerm& t : *terms) r = std::max(r, t.A.size(0));
  return r;
}

void LoRADeltas::check(const InferenceWeights& w) const {
  if (layers.size() != w.layers().size())
    throw ShapeError("lora: the adapter has " + std::to_string(layers.size()) + " layers, the model " + std::to_string(w.layers().size()));
  for (size_t l = 0; l < layers.size(); ++l) {
    const DecoderLayerWeights& W = w.layers()[l];
    const std::pair<const std::vector<LoRATerm>*, const QuantLinear*> pairs[] = {
        {&layers[l].qkv, &W.qkv}, {&layers[l].proj, &W.proj}, {&layers[l].up, &W.up}, {&layers[l].down, &W.down}};
    const char* names[] = {"qkv", "proj", "up", "down"};
    for (size_t p = 0; p < 4; ++p)
      for (const LoRATerm& t : *pairs[p].first) {
        const int64_t out = pairs[p].second->out_features(), in = pairs[p].second->in_features();
        const bool ok = t.A.defined() && t.B.defined() && t.A.dtype() == DType::F32 && t.B.dtype() == DType::F32 && t.A.ndim() == 2 &&
                        t.B.ndim() == 2 && t.A.size(1) == in && t.B.size(1) == t.A.size(0) && 0 <= t.row_begin &&
                        t.row_begin < t.row_end && t.row_end <= out && t.B.size(0) == t.row_end - t.row_begin;
        if (!ok)
          throw ShapeError("lora: a term of layer " + std::to_string(l) + "'s " + names[p] + " (rows " + std::to_string(t.row_begin) + "-" +
                           std::to_string(t.row_end) + ", A " + (t.A.defined() ? t.A.shape().str() : "none") + ", B " +
                           (t.B.defined() ? t.B.shape().str() : "none") + ") does not fit its (" + std::to_string(out) + ", " +
                           std::to_string(in) + ") weight");
      }
  }
}

void apply_lora_terms(const std::vector<LoRATerm>& terms, const float* x, float* y, float* tmp) {
  for (const LoRATerm& t : terms) {
    const int64_t r = t.A.size(0), in = t.A.size(1), rows = t.row_end - t.row_begin;
    const float* A = t.A.data<float>();
    const float* B = t.B.data<float>();
    // The dot products run on every adapted row of every token: vectorised (their order of
    // additions free, as the tests' tolerance against the merged model allows).
    for (int64_t k = 0; k < r; ++k) {
      float s = 0;
#pragma omp simd reduction(+ : s)
      for (int64_t i = 0; i < in; ++i) s += A[k * in + i] * x[i];
      tmp[k] = t.scale * s;
    }
    float* out = y + t.row_begin;
    for (int64_t j = 0; j < rows; ++j) {
      float s = 0;
#pragma omp simd reduction(+ : s)
      for (int64_t k = 0; k < r; ++k) s += B[j * r + k] * tmp[k];
      out[j] += s;
    }
  }
}

}  // namespace cornerstone::infer
