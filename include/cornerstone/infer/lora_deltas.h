// LoRA adapters kept apart from the weights they adapt, for inference: a row that asks for adapter
// a gets y = W x + B_a (scale_a A_a x) on every adapted projection, a row that asks for none gets
// W x. Many adapters then share one copy of the base and decode in one batch with it (S-LoRA's
// idea; llama.cpp's --lora applies one adapter to every row instead). The base may be in any
// weight format; the adapters stay f32 (r (in + out) floats per projection: small).
//
//   LoRADeltas d = adapt::lora_deltas(model);        // a model with unmerged adapters (adapt/lora.h)
//   DecoderRunner run(weights);                      // the base's weights
//   const int32_t a = run.add_lora(d);
//   run.forward(cache, {{0, prompt}, {1, other_prompt, a}});   // slot 0 the base, slot 1 adapted
//
// Merging the adapter into W (adapt::merge_lora) computes the same function; the two differ by
// float rounding only (the products are added in another order).
#pragma once

#include <cstdint>
#include <vector>

#include "cornerstone/core/tensor.h"

namespace cornerstone::infer {

class InferenceWeights;

// One adapted slice of a projection's output rows (a fused qkv holds q, k and v slices).
struct LoRATerm {
  int64_t row_begin = 0, row_end = 0;  // the rows of the projection's output it adds to
  Tensor A;                            // (r, in) f32
  Tensor B;                            // (row_end - row_begin, r) f32
  float scale = 1;                     // alpha / r
};

// The terms of one decoder layer, by the runner's projections (infer/inference_weights.h).
struct LoRALayerTerms {
  std::vector<LoRATerm> qkv, proj, up, down;
};

struct LoRADeltas {
  std::vector<LoRALayerTerms> layers;  // one per decoder layer

  int64_t max_rank() const;
  // Throws ShapeError naming the layer and projection unless every term fits `w`'s matrices.
  void check(const InferenceWeights& w) const;
};

// y[t.row_begin + j] += sum_k t.B[j, k] u[k] with u = t.scale * t.A x, for one row x (in floats)
// and each term; `tmp` holds max_rank() floats.
void apply_lora_terms(const std::vector<LoRATerm>& terms, const float* x, float* y, float* tmp);

}  // namespace cornerstone::infer
