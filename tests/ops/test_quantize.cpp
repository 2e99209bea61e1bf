// Whole-tensor quantize / dequantize: shapes, row-wise blocks, the threaded path, bad input.
#include <gtest/gtest.h>

#include <cstring>

#include "cornerstone/core/error.h"
#include "cornerstone/core/rng.h"
#include "cornerstone/kernels/quant.h"
#include "cornerstone/ops/quantize.h"
#include "test_util.h"

using namespace cornerstone;

TEST(Quantize, TensorsQuantizeRowByRowAndDequantizeBack) {
  Rng rng(3);
  const Tensor w = Tensor::randn({300, 96}, rng);  // above the threading threshold
  for (DType t : {DType::Q8_0, DType::Q4_0}) {
    SCOPED_TRACE(std::string(dtype_name(t)));
    const Tensor q = ops::quantize(w, t);
    EXPECT_EQ(q.dtype(), t);
    EXPECT_EQ(q.shape(), w.shape());
    EXPECT_EQ(q.nbytes(), 300u * 3 * (t == DType::Q8_0 ? 34 : 18));
    // Row r's blocks are the row quantizer's output for row r.
    const float* x = w.data<float>();
    std::vector<char> row(3 * 34);
    if (t == DType::Q8_0) kernels::quantize_row_q8_0(x + 7 * 96, 96, reinterpret_cast<kernels::BlockQ8_0*>(row.data()));
    else kernels::quantize_row_q4_0(x + 7 * 96, 96, reinterpret_cast<kernels::BlockQ4_0*>(row.data()));
    const size_t rb = dtype_bytes(t, 96);
    EXPECT_EQ(std::memcmp(static_cast<const char*>(q.raw_data()) + 7 * rb, row.data(), rb), 0);

    const Tensor back = ops::dequantize(q);
    EXPECT_EQ(back.dtype(), DType::F32);
    EXPECT_EQ(back.shape(), w.shape());
    EXPECT_TRUE(cornerstone::testing::all_close(back, w, 0, t == DType::Q8_0 ? 0.03 : 0.6));
    // Requantizing reproduces the bytes.
    const Tensor again = ops::quantize(back, t);
    EXPECT_EQ(std::memcmp(again.raw_data(), q.raw_data(), q.nbytes()), 0);
  }
}

TEST(Quantize, DequantizeConvertsHalfTypes) {
  const Tensor w = Tensor::from_data({2, 2}, std::vector<float>{1.0f, -2.5f, 0.125f, 3.0f});
  EXPECT_EQ(ops::dequantize(w.to(DType::BF16)).to_vector(), w.to_vector());
  EXPECT_EQ(ops::dequantize(w.to(DType::F16)).to_vector(), w.to_vector());
  EXPECT_TRUE(ops::dequantize(w).same_data(w));
}

TEST(Quantize, RejectsRowsThatAreNotWholeBlocksAndOtherTypes) {
  try {
    ops::quantize(Tensor::zeros({4, 40}), DType::Q8_0);
    FAIL();
  } catch (const ShapeError& e) {
    EXPECT_NE(std::string(e.what()).find("40 elements, not a multiple of the block size 32"), std::string::npos) << e.what();
  }
  EXPECT_THROW(ops::quantize(Tensor::zeros({4, 32}), DType::BF16), DTypeError);
  EXPECT_THROW(ops::quantize(Tensor::zeros({4, 32}, DType::BF16), DType::Q8_0), DTypeError);
  EXPECT_THROW(ops::dequantize(Tensor::zeros({4}, DType::I32)), DTypeError);
}
