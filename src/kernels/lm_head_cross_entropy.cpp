// The LM head fused with cross-entropy: losses and gradients of sum_i CE(h_i W^T + b, t_i) without
// ever holding the (N, V) logits. Rows are taken a chunk at a time; per chunk of R rows:
//
//   logits (R, V)  = h_c (R, C) W^T                  sgemm N,T   (+ b in the row pass)
//   row pass       : loss, and logits <- g = grad_scale * (softmax - onehot)   (L2-resident rows)
//   db (V)        += sum_r g                         column sums, deterministic
//   dh_c (R, C)    = g W                             sgemm N,N
//   dW (V, C)     += g^T h_c                         sgemm T,N, beta = 1
//
// Rows whose target is ignored (< 0) are dropped before the GEMMs (loss 0, dh row 0), so prompt
// masking in instruction tuning saves their FLOPs too. When a chunk's rows are contiguous in h (the
// usual case) the GEMMs read h and write dh in place; otherwise the rows are gathered / scattered.
//
// Chunk size. Every chunk streams W (V x C) through the cache three times and dW once (read+write):
// for GPT-2 (V = 50257, C = 768) that is ~0.8 GB per chunk against 6 R V C FLOPs, so R must be
// large enough for the GEMMs to stay compute-bound, while the chunk buffer, R x V floats, is the
// memory cost. See lm_head_chunk_rows().
#include <cstring>

#include "cornerstone/kernels/cross_entropy.h"
#include "cornerstone/kernels/elementwise.h"
#include "cornerstone/kernels/gemm.h"
#include "kernels/lm_head_rows.h"
#include "kernels/scratch.h"

namespace cornerstone::kernels {

namespace {

// Rows per chunk: 256, or as many as keep the logits chunk within 64 MiB, but never fewer than 128,
// rounded down to a multiple of 16 (GPT-2, V = 50257: 256 rows, 49 MiB; V = 151936: 128 rows, 74 MiB).
// Measured on the 2-core Zen 5 dev machine (N = 2048, C = 768, V = 50257; the three GEMMs alone,
// unchunked, reach ~435 GFLOP/s): 64 rows 197, 128 rows 367, 160 rows 383, 256 rows 396 GFLOP/s;
// at C = 384, 128 rows 308 and 256 rows 360 (unchunked 405). The logits GEMM (M = R rows against all
// of W) is the one that suffers at small R; 384 rows gains only 2% more for 50% more memory.
int64_t lm_head_chunk_rows(int64_t V) {
  constexpr int64_t kBudgetBytes = int64_t{64} << 20, kMinRows = 128, kMaxRows = 256;
  const int64_t rows = kBudgetBytes / (V * static_cast<int64_t>(sizeof(float))) / 16 * 16;
  return rows < kMinRows ? kMinRows : rows > kMaxRows ? kMaxRows : rows;
}

}  // namespace

void lm_head_cross_entropy(const float* h, const float* w, const float* b, const int32_t* targets, int64_t N,
                           int64_t C, int64_t V, float grad_scale, float* losses, float* dh, float* dw, float* db) {
  const bool want_grad = dh || dw || db;
  const int64_t R = lm_head_chunk_rows(V) < N ? lm_head_chunk_rows(V) : N;
  Scratch logits_buf = Scratch::of<float>(R * V);  // (R, V): logits, then their gradient
  Scratch h_buf = Scratch::of<float>(R * C);       // (R, C): gathered rows of h, when not contiguous
  Scratch dh_buf = Scratch::of<float>(R * C);      // (R, C): their dh before the scatter
  Scratch rows_buf = Scratch::of<int64_t>(R), tgt_buf = Scratch::of<int32_t>(R), loss_buf = Scratch::of<float>(R);
  float* const logits = logits_buf.as<float>();
  int64_t* const rows = rows_buf.as<int64_t>();
  int32_t* const tgt = tgt_buf.as<int32_t>();
  float* const loss = loss_buf.as<float>();

  int64_t next = 0;
  while (next < N) {
    // The next (up to) R rows with a target; ignored rows on the way get loss 0 and dh 0.
    int64_t n = 0;
    for (; next < N && n < R; ++next) {
      if (targets[next] >= 0) {
        rows[n] = next, tgt[n] = targets[next], ++n;
      } else {
        losses[next] = 0.0f;
        if (dh) std::memset(dh + next * C, 0, C * sizeof(float));
      }
    }
    if (n == 0) break;
    const bool contiguous = rows[n - 1] - rows[0] == n - 1;
    const float* hc = h + rows[0] * C;  // (n, C)
    if (!contiguous) {
      for (int64_t r = 0; r < n; ++r) std::memcpy(h_buf.as<float>() + r * C, h + rows[r] * C, C * sizeof(float));
      hc = h_buf.as<float>();
    }

    sgemm(Trans::N, Trans::T, n, V, C, 1.0f, hc, C, w, C, 0.0f, logits, V);
    internal::lm_head_rows(logits, b, tgt, n, V, grad_scale, want_grad, loss);
    for (int64_t r = 0; r < n; ++r) losses[rows[r]] = loss[r];
    if (!want_grad) continue;

    if (db) sum_rows(logits, n, V, db);
    if (dh) {
      float* dhc = contiguous ? dh + rows[0] * C : dh_buf.as<float>();  // (n, C)
      sgemm(Trans::N, Trans::N, n, C, V, 1.0f, logits, V, w, C, 0.0f, dhc, C);
      if (!contiguous)
        for (int64_t r = 0; r < n; ++r) std::memcpy(dh + rows[r] * C, dhc + r * C, C * sizeof(float));
    }
    if (dw) sgemm(Trans::T, Trans::N, V, C, n, 1.0f, logits, V, hc, C, 1.0f, dw, C);
  }
}

}  // namespace cornerstone::kernels
