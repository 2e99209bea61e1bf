// Packed weights: formats, sizes, packing from floats or GGUF blocks, row dequantization, and the
// run-time choice of the matmul's ISA variant (kernels/cpu/packed_matmul.inc).
#include "cornerstone/kernels/packed_matmul.h"

#include <omp.h>

#include <algorithm>
#include <cstring>
#include <string>

#include "cornerstone/core/error.h"
#include "kernels/cpu/dispatch.h"
#include "kernels/packed_layout.h"
#include "kernels/scratch.h"

namespace cornerstone::kernels {

CS_DECLARE_VARIANTS(void, packed_matmul_team,
                    (const PackedView&, const float*, int64_t, int64_t, const float*, float*, int64_t, void*, const Team&))

namespace {

using packed::kNR;
using packed::kQK;

void check_shape(WeightFormat f, int64_t n, int64_t k) {
  if (n <= 0 || k <= 0)
    throw ShapeError("packed weights: shape (" + std::to_string(n) + ", " + std::to_string(k) + ") must be positive");
  if ((f == WeightFormat::Q8_0 || f == WeightFormat::Q4_0) && k % kQK != 0)
    throw ShapeError("packed weights: " + std::string(weight_format_name(f)) + " needs rows of a multiple of 32 weights, got " +
                     std::to_string(k) + " (keep this layer in f32 or bf16)");
}

// Where output r's weights live: panel base and lane.
char* panel_of(void* out, WeightFormat f, int64_t k, int64_t r) {
  return static_cast<char*>(out) + (r / kNR) * packed::panel_bytes(f, k);
}

}  // namespace

std::string_view weight_format_name(WeightFormat f) {
  switch (f) {
    case WeightFormat::F32: return "f32";
    case WeightFormat::BF16: return "bf16";
    case WeightFormat::Q8_0: return "q8_0";
    case WeightFormat::Q4_0: return "q4_0";
  }
  return "?";
}

WeightFormat weight_format_from_name(std::string_view name) {
  for (WeightFormat f : {WeightFormat::F32, WeightFormat::BF16, WeightFormat::Q8_0, WeightFormat::Q4_0})
    if (name == weight_format_name(f)) return f;
  throw ValueError("unknown weight format '" + std::string(name) + "' (expected f32, bf16, q8_0 or q4_0)");
}

size_t packed_bytes(WeightFormat f, int64_t n, int64_t k) {
  check_shape(f, n, k);
  return static_cast<size_t>(packed::panels(n) * packed::panel_bytes(f, k));
}

size_t weight_bytes(WeightFormat f, int64_t n, int64_t k) {
  check_shape(f, n, k);
  switch (f) {
    case WeightFormat::F32: return static_cast<size_t>(n * k * 4);
    case WeightFormat::BF16: return static_cast<size_t>(n * k * 2);
    case WeightFormat::Q8_0: return static_cast<size_t>(n * (k / kQK) * static_cast<int64_t>(sizeof(BlockQ8_0)));
    case WeightFormat::Q4_0: return static_cast<size_t>(n * (k / kQK) * static_cast<int64_t>(sizeof(BlockQ4_0)));
  }
  return 0;
}

void pack_weights(WeightFormat f, const float* w, int64_t n, int64_t k, int64_t row_stride, int64_t col_stride, void* out) {
  if (f != WeightFormat::F32 && f != WeightFormat::BF16)
    throw ValueError("pack_weights: packs f32 or bf16; quantize to GGUF blocks first for " + std::string(weight_format_name(f)));
  const int64_t P = packed::panels(n);
  std::memset(out, 0, packed_bytes(f, n, k));
#pragma omp parallel for schedule(static)
  for (int64_t p = 0; p < P; ++p) {
    char* panel = static_cast<char*>(out) + p * packed::panel_bytes(f, k);
    for (int64_t c = 0; c < kNR && p * kNR + c < n; ++c) {
      const float* row = w + (p * kNR + c) * row_stride;
      for (int64_t j = 0; j < k; ++j) {
        const float v = row[j * col_stride];
        if (f == WeightFormat::F32)
          reinterpret_cast<float*>(panel)[j * kNR + c] = v;
        else  // pair j / 2, lane c, element j % 2
          reinterpret_cast<bf16*>(panel)[(j / 2) * 2 * kNR + 2 * c + (j % 2)] = f32_to_bf16(v);
      }
    }
  }
}

namespace {

// Copies GGUF blocks (n rows of k / 32) into panels: scales to the scales region, the quants of
// k-step s of output c to bytes (s, c, 0..3) of the block (q8_0 shifted to unsigned; a q4_0 byte j
// already pairs weight j with weight j + 16, which is the packed byte (j / 4, c, j % 4)).
template <class Block, WeightFormat F>
void pack_blocks(const Block* w, int64_t n, int64_t k, void* out) {
  check_shape(F, n, k);
  const int64_t P = packed::panels(n), kb = k / kQK, sb = packed::scales_bytes(k), qb = packed::quant_block_bytes(F);
  const uint8_t pad = F == WeightFormat::Q8_0 ? 0x80 : 0x88;  // q = 0 / q = 8: a zero weight
#pragma omp parallel for schedule(static)
  for (int64_t p = 0; p < P; ++p) {
    char* panel = static_cast<char*>(out) + p * packed::panel_bytes(F, k);
    std::memset(panel, 0, static_cast<size_t>(sb));
    std::memset(panel + sb, pad, static_cast<size_t>(kb * qb));
    for (int64_t c = 0; c < kNR && p * kNR + c < n; ++c)
      for (int64_t b = 0; b < kb; ++b) {
        const Block& src = w[(p * kNR + c) * kb + b];
        std::memcpy(panel + b * 32 + c * 2, &src.d, 2);
        uint8_t* dst = reinterpret_cast<uint8_t*>(panel + sb + b * qb);
        if constexpr (F == WeightFormat::Q8_0) {
          for (int j = 0; j < 32; ++j) dst[(j / 4) * 64 + c * 4 + j % 4] = static_cast<uint8_t>(src.qs[j] + 128);
        } else {
          for (int j = 0; j < 16; ++j) dst[(j / 4) * 64 + c * 4 + j % 4] = src.qs[j];
        }
      }
  }
}

}  // namespace

void pack_weights_q8_0(const BlockQ8_0* w, int64_t n, int64_t k, void* out) {
  pack_blocks<BlockQ8_0, WeightFormat::Q8_0>(w, n, k, out);
}

void pack_weights_q4_0(const BlockQ4_0* w, int64_t n, int64_t k, void* out) {
  pack_blocks<BlockQ4_0, WeightFormat::Q4_0>(w, n, k, out);
}

void packed_row(const PackedView& w, int64_t r, float* out) {
  if (r < 0 || r >= w.n) throw ShapeError("packed_row: row " + std::to_string(r) + " of " + std::to_string(w.n));
  const char* panel = panel_of(const_cast<void*>(w.data), w.format, w.k, r);
  const int64_t c = r % kNR, k = w.k;
  switch (w.format) {
    case WeightFormat::F32:
      for (int64_t j = 0; j < k; ++j) out[j] = reinterpret_cast<const float*>(panel)[j * kNR + c];
      return;
    case WeightFormat::BF16:
      for (int64_t j = 0; j < k; ++j) out[j] = bf16_to_f32(reinterpret_cast<const bf16*>(panel)[(j / 2) * 2 * kNR + 2 * c + (j % 2)]);
      return;
    case WeightFormat::Q8_0:
    case WeightFormat::Q4_0: {
      const int64_t sb = packed::scales_bytes(k), qb = packed::quant_block_bytes(w.format);
      for (int64_t b = 0; b < k / kQK; ++b) {
        f16 h;
        std::memcpy(&h, panel + b * 32 + c * 2, 2);
        const float d = f16_to_f32(h);
        const uint8_t* q = reinterpret_cast<const uint8_t*>(panel + sb + b * qb);
        for (int j = 0; j < 32; ++j) {
          int32_t v;
          if (w.format == WeightFormat::Q8_0)
            v = static_cast<int32_t>(q[(j / 4) * 64 + c * 4 + j % 4]) - 128;
          else if (j < 16)
            v = (q[(j / 4) * 64 + c * 4 + j % 4] & 0x0F) - 8;
          else
            v = (q[((j - 16) / 4) * 64 + c * 4 + j % 4] >> 4) - 8;
          out[b * kQK + j] = d * static_cast<float>(v);
        }
      }
      return;
    }
  }
}

size_t packed_matmul_scratch(WeightFormat f, int64_t m, int64_t k) {
  const bool quant = f == WeightFormat::Q8_0 || f == WeightFormat::Q4_0;
  return static_cast<size_t>(m * packed::row_units(f, k) * 4 + (quant ? m * (k / kQK) * 8 : 0));
}

void packed_matmul_team(const PackedView& w, const float* x, int64_t m, int64_t ldx, const float* bias, float* y, int64_t ldy,
                        void* scratch, const Team& team) {
  if (m <= 0) return;
  CS_DISPATCH(packed_matmul_team, w, x, m, ldx, bias, y, ldy, scratch, team);
}

void packed_matmul(const PackedView& w, const float* x, int64_t m, int64_t ldx, const float* bias, float* y, int64_t ldy) {
  if (m <= 0) return;
  Scratch scratch(packed_matmul_scratch(w.format, m, w.k));
  // Threads: none for small products (waking the team costs more), never more than panels.
  const double macs = static_cast<double>(m) * static_cast<double>(w.n) * static_cast<double>(w.k);
  const int threads = macs < 65536.0 ? 1 : static_cast<int>(std::min<int64_t>(omp_get_max_threads(), packed::panels(w.n)));
  SpinBarrier barrier(threads);
#pragma omp parallel num_threads(threads) if (threads > 1)
  packed_matmul_team(w, x, m, ldx, bias, y, ldy, scratch.as<void>(), Team::of_region(barrier));
}

}  // namespace cornerstone::kernels
