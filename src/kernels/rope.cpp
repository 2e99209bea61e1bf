// Rotary embeddings: the cos/sin table (portable, float32 like Hugging Face), argument checks, then
// the widest ISA variant of the rotation (kernels/cpu/rope.inc).
#include "cornerstone/kernels/rope.h"

#include <cmath>
#include <string>

#include "cornerstone/core/error.h"
#include "kernels/cpu/dispatch.h"

namespace cornerstone::kernels {

CS_DECLARE_VARIANTS(void, rope_apply, (const RopeTable&, HeadsView<float>, int64_t, int64_t, int64_t, int64_t, int64_t, bool))

void rope_fill_table(float theta, int64_t head_dim, int64_t max_pos, float* cos, float* sin) {
  if (head_dim <= 0 || head_dim % 2 != 0)
    throw ValueError("rope_fill_table: head_dim must be even and positive, got " + std::to_string(head_dim));
  if (max_pos < 0) throw ValueError("rope_fill_table: max_pos must be >= 0, got " + std::to_string(max_pos));
  if (!(theta > 0.0f)) throw ValueError("rope_fill_table: theta must be > 0, got " + std::to_string(theta));
  const int64_t half = head_dim / 2;
  for (int64_t i = 0; i < half; ++i) {
    // Hugging Face: inv_freq = 1.0 / (theta ** (arange(0, D, 2).float() / D)), all in float32. The
    // power is evaluated in double and rounded once (PyTorch's own float pow agrees to 1 ulp).
    const float exponent = static_cast<float>(2 * i) / static_cast<float>(head_dim);
    const float power = static_cast<float>(std::pow(static_cast<double>(theta), static_cast<double>(exponent)));
    const float inv_freq = 1.0f / power;
    for (int64_t pos = 0; pos < max_pos; ++pos) {
      // The angle is a float32 product, as in HF: at position 4095 it differs from the exact angle
      // by up to ~1e-4, far more than any rounding of cos/sin, so this step must match exactly.
      const float angle = static_cast<float>(pos) * inv_freq;
      cos[pos * half + i] = static_cast<float>(std::cos(static_cast<double>(angle)));
      sin[pos * half + i] = static_cast<float>(std::sin(static_cast<double>(angle)));
    }
  }
}

void rope_apply(const RopeTable& table, HeadsView<float> x, int64_t batch, int64_t seq_len, int64_t n_heads,
                int64_t head_dim, int64_t start_pos, bool inverse) {
  if (batch < 0 || seq_len < 0 || n_heads < 0 || start_pos < 0)
    throw ShapeError("rope_apply: negative size (batch " + std::to_string(batch) + ", seq_len " +
                     std::to_string(seq_len) + ", n_heads " + std::to_string(n_heads) + ", start_pos " +
                     std::to_string(start_pos) + ")");
  if (table.half_dim <= 0 || 2 * table.half_dim > head_dim)
    throw ShapeError("rope_apply: the table rotates " + std::to_string(2 * table.half_dim) +
                     " dims, the heads have " + std::to_string(head_dim) + " (need 0 < rotary dims <= head_dim)");
  if (start_pos + seq_len > table.max_pos)
    throw ShapeError("rope_apply: positions " + std::to_string(start_pos) + ".." + std::to_string(start_pos + seq_len - 1) +
                     " exceed the table's " + std::to_string(table.max_pos) + " (fill it for a longer context)");
  if (batch == 0 || seq_len == 0 || n_heads == 0) return;
  if (!x.data || !table.cos || !table.sin) throw ValueError("rope_apply: null data or table");
  CS_DISPATCH(rope_apply, table, x, batch, seq_len, n_heads, head_dim, start_pos, inverse);
}

}  // namespace cornerstone::kernels
