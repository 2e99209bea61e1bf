// Every parameter gradient of a model, in its family's Hugging Face layout, against the reference's
// (tests/reference/models.py, run through the oracle in float32 and float64): the gradients are
// copied into a twin of the model whose hf_state_dict() then lays them out as the reference names them.
#pragma once

#include <gtest/gtest.h>

#include "cornerstone/models/pretrained.h"
#include "op_check.h"
#include "oracle.h"
#include "test_util.h"

namespace cornerstone::testing {

// ref / exact: the oracle's float32 / float64 results, whose outputs from `first` on are d loss /
// d param in hf_state_dict() order (a 0-dimensional reference gradient is compared as the shape ours has).
inline void expect_hf_gradients_match(const models::ModelConfig& cfg, const models::PretrainedModel& model, const OracleResult& ref,
                                      const OracleResult& exact, size_t first) {
  const auto grads = cfg.create(0, /*random_init=*/false);
  for (const auto& [n, p] : model.named_parameters()) {
    ASSERT_TRUE(p.grad().defined()) << n << " has no gradient";
    grads->parameter(n).detach().copy_from(p.grad());
  }
  const auto hf_grads = grads->hf_state_dict();
  ASSERT_EQ(hf_grads.size() + first, ref.outputs.size());
  for (size_t i = 0; i < hf_grads.size(); ++i) {
    const Shape& shape = hf_grads[i].second.shape();
    const Tensor want = ref.outputs[first + i].contiguous().view(shape), best = exact.outputs[first + i].contiguous().view(shape);
    EXPECT_TRUE(all_close(hf_grads[i].second, want, 1e-3, 1e-5)) << hf_grads[i].first;
    EXPECT_TRUE(as_accurate_as_torch(hf_grads[i].second, want, best)) << hf_grads[i].first;
  }
}

}  // namespace cornerstone::testing
