// TEMPORARY, until the interop branch lands kernels::quantize_row_q8_0 / quantize_row_q4_0
// (kernels/quant.h): the same ggml reference quantizers, private to infer/. After the merge, call
// the kernels:: functions instead and delete this file and quantize_rows_tmp.cpp.
#pragma once

#include <cstdint>

#include "cornerstone/kernels/quant.h"

namespace cornerstone::infer::detail {

// n % 32 == 0. Rounding as ggml's quantize_row_q8_0_ref / quantize_row_q4_0_ref.
void quantize_row_q8_0(const float* x, int64_t n, kernels::BlockQ8_0* y);
void quantize_row_q4_0(const float* x, int64_t n, kernels::BlockQ4_0* y);

}  // namespace cornerstone::infer::detail
