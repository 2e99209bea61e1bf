#include <gtest/gtest.h>

#include "cornerstone/core/tensor.h"

TEST(Smoke, TensorZeros) {
  auto t = cornerstone::Tensor::zeros({2, 3});
  EXPECT_EQ(t.numel(), 6);
}
