// Byte layout of packed weight panels (documented in cornerstone/kernels/packed_matmul.h), shared by
// the packing code and the per-ISA kernels. Functions are `static` so that no inline definition is
// shared between translation units compiled for different ISAs.
#pragma once

#include <cstddef>
#include <cstdint>

#include "cornerstone/kernels/packed_matmul.h"

namespace cornerstone::kernels::packed {

inline constexpr int64_t kNR = kPanelRows;    // 16 outputs per panel
inline constexpr int64_t kQK = kQuantBlock;   // 32 weights per quant block
inline constexpr int64_t kQ8BlockBytes = 512; // 8 k-steps x 16 outputs x 4 bytes
inline constexpr int64_t kQ4BlockBytes = 256; // 4 vectors x 16 outputs x 4 bytes, two nibbles each
inline constexpr int64_t kScaleBytes = 32;    // 16 fp16 scales per block

static constexpr int64_t panels(int64_t n) { return (n + kNR - 1) / kNR; }
static constexpr int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }
static constexpr int64_t bf16_k(int64_t k) { return round_up(k, 2); }  // k padded to whole pairs

// Bytes of the scales region of a quantized panel (padded so that the quants stay 64-byte aligned).
static constexpr int64_t scales_bytes(int64_t k) { return round_up(k / kQK * kScaleBytes, 64); }

static constexpr int64_t quant_block_bytes(WeightFormat f) { return f == WeightFormat::Q8_0 ? kQ8BlockBytes : kQ4BlockBytes; }

// Bytes of one panel (16 outputs x K weights).
static constexpr int64_t panel_bytes(WeightFormat f, int64_t k) {
  switch (f) {
    case WeightFormat::F32: return k * kNR * 4;
    case WeightFormat::BF16: return bf16_k(k) * kNR * 2;
    case WeightFormat::Q8_0:
    case WeightFormat::Q4_0: return scales_bytes(k) + k / kQK * quant_block_bytes(f);
  }
  return 0;
}

// Prepared activations: 4-byte units per row (floats, bf16 pairs, groups of 4 int8).
static constexpr int64_t row_units(WeightFormat f, int64_t k) {
  return f == WeightFormat::F32 ? k : f == WeightFormat::BF16 ? bf16_k(k) / 2 : k / 4;
}

// Zero point of the stored unsigned quants: q8_0 stores q + 128, q4_0 its nibble q (w = d (q - 8)).
static constexpr int32_t zero_point(WeightFormat f) { return f == WeightFormat::Q8_0 ? 128 : 8; }

}  // namespace cornerstone::kernels::packed
