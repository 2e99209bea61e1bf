// The PyTorch oracle (tests/reference/oracle.py), started once per test binary and reused.
//
//   auto r = Oracle::instance().run("layer_norm", {x, w, b}, {{"eps", 1e-5}}, seed, {true, true, true});
//   EXPECT_TRUE(all_close(my_out, r.outputs[0]));
//   EXPECT_TRUE(all_close(x.grad(), r.grads[0]));
//
// Tensors cross the pipe as raw f32 / i32 bytes; PyTorch computes in float32.
#pragma once

#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cornerstone/core/tensor.h"

namespace cornerstone::testing {

struct OracleResult {
  std::vector<Tensor> outputs;
  std::vector<Tensor> grads;  // per input; undefined where no gradient was asked for
};

class Oracle {
 public:
  static Oracle& instance();

  // Runs `op` on `inputs`. When `seed` is defined, back-propagates it from the first output and
  // returns the gradient of every input whose `want_grad` entry is true.
  OracleResult run(const std::string& op, const std::vector<Tensor>& inputs, const nlohmann::json& attrs = {},
                   const Tensor& seed = Tensor(), const std::vector<bool>& want_grad = {});

 private:
  Oracle();
  ~Oracle();
  FILE* to_ = nullptr;
  FILE* from_ = nullptr;
  int pid_ = -1;
};

}  // namespace cornerstone::testing
