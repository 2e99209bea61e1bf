// The LM head fused with cross-entropy: losses and gradients of sum_i CE(h_i W^T + b, t_i) without
// ever holding the (N, V) logits. Rows of h are taken R at a time, and each chunk's logits are held
// transposed, lt (V, R), so that all three GEMMs keep the vocabulary as their long dimension. The
// vocabulary is walked in blocks of Vb rows (~1 MB of fp32 logits, in L2), and each pass runs on a
// block right after the GEMM that produced it:
//
//   forward, per block:   lt_b (Vb, R) = W_b (Vb, C) h_c^T          GEMM N,T
//                         online softmax statistics (max, sum) per column   (cpu/lm_head.inc)
//   then per column:      lse, loss = lse - l[t]
//   backward, per block:  g_b = grad_scale (softmax - onehot), fp32 in place or bf16; db += row sums
//                         dh_c (R, C) += g_b^T W_b                  GEMM T,N  (accumulated over blocks)
//                         dW_b (Vb, C) += g_b h_c                   GEMM N,N, beta = 1
//
// So lt goes to memory once and comes back once; the softmax work and the gradient's conversion to
// bf16 happen on cached blocks. (The first version made five full passes over the 25-100 MB chunk
// between the GEMMs; bf16 spent more time there than in its GEMMs.)
//
// Rows whose target is ignored (< 0) are dropped before the GEMMs (loss 0, dh row 0), so prompt
// masking in instruction tuning saves their FLOPs too. When a chunk's rows are contiguous in h (the
// usual case) the GEMMs read h and write dh in place; otherwise the rows are gathered / scattered.
//
// Chunk size. Each chunk streams W through the caches three times and dW once (read + write), so
// R must be large for the GEMMs to be compute-bound, above all in bf16, whose GEMMs are twice as
// fast against the same traffic; lt, R V floats, is the memory. The fused head's rate rises with R
// up to 512 rows, where bf16 reaches the rate of the three GEMMs alone on the unchunked logits
// (`bench_kernels --filter lm_head`; the figures: docs/performance.md, "LM head chunk size").
// We take 512 rows while lt fits in 128 MiB (V <= 65536:
// GPT-2 103 MB, Llama / BERT <= 67 MB), halving down to 128 rows (V = 151936: 78 MB).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>

#include "cornerstone/kernels/cross_entropy.h"
#include "cornerstone/kernels/elementwise.h"
#include "cornerstone/kernels/gemm.h"
#include "kernels/cpu/dispatch.h"
#include "kernels/lm_head_pass.h"
#include "kernels/scratch.h"

namespace cornerstone::kernels {

CS_DECLARE_VARIANTS(void, lm_head_block_stats, (const float*, const float*, int64_t, int64_t, float*, float*))
CS_DECLARE_VARIANTS(void, lm_head_block_grad,
                    (const float*, const float*, int64_t, int64_t, int64_t, const float*, const int32_t*,
                     const int32_t*, float, float*, bf16*, float*))

namespace internal {
void lm_head_block_stats(const float* lt, const float* bias, int64_t rows, int64_t R, float* m, float* s) {
  CS_DISPATCH(lm_head_block_stats, lt, bias, rows, R, m, s);
}
void lm_head_block_grad(const float* lt, const float* bias, int64_t v0, int64_t rows, int64_t R, const float* lse,
                        const int32_t* by_target, const int32_t* targets, float grad_scale, float* g, bf16* g16,
                        float* db) {
  CS_DISPATCH(lm_head_block_grad, lt, bias, v0, rows, R, lse, by_target, targets, grad_scale, g, g16, db);
}
}  // namespace internal

namespace {

int64_t chunk_rows(int64_t V) {
  constexpr int64_t kBudgetBytes = int64_t{128} << 20;
  static_assert(internal::kLmHeadMaxRows == 512);
  int64_t rows = internal::kLmHeadMaxRows;
  while (rows > 128 && rows * V * static_cast<int64_t>(sizeof(float)) > kBudgetBytes) rows /= 2;
  return rows;
}

// Vocabulary rows per block: the block's fp32 logits, kBlockBytes, stay in the core's L2 between
// the GEMM that writes them and the pass that reads them.
int64_t block_rows(int64_t R) {
  constexpr int64_t kBlockBytes = int64_t{1} << 20;
  const int64_t rows = kBlockBytes / (R * static_cast<int64_t>(sizeof(float)));
  return rows < 16 ? 16 : rows / 16 * 16;
}

// C = op(A) op(B) (+ beta C) with both operands f32 or both bf16, fp32 accumulation.
void gemm(Trans ta, Trans tb, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B, int64_t ldb,
          float beta, float* C, int64_t ldc) {
  sgemm(ta, tb, M, N, K, 1.0f, A, lda, B, ldb, beta, C, ldc);
}
void gemm(Trans ta, Trans tb, int64_t M, int64_t N, int64_t K, const bf16* A, int64_t lda, const bf16* B, int64_t ldb,
          float beta, float* C, int64_t ldc) {
  gemm_bf16(ta, tb, M, N, K, 1.0f, A, lda, B, ldb, beta, C, ldc);
}

// The fused head for f32 or bf16 operands (h, W). With bf16, the gradient block is rounded to bf16
// for the two backward GEMMs, as every bf16 GEMM's operands are; the loss and softmax stay fp32.
template <typename T>
void lm_head_impl(const T* h, const T* w, const float* b, const int32_t* targets, int64_t N, int64_t C, int64_t V,
                  float grad_scale, float* losses, float* dh, float* dw, float* db) {
  constexpr bool kBf16 = std::is_same_v<T, bf16>;
  const bool want_grad = dh || dw || db;
  const int64_t R = chunk_rows(V) < N ? chunk_rows(V) : N;
  const int64_t Vb = block_rows(R);
  Scratch lt_buf = Scratch::of<float>(V * R);  // (V, R): logits, then (fp32) their gradient
  Scratch g_buf = Scratch::of<T>(kBf16 && want_grad ? Vb * R : 1);  // (Vb, R): a block's gradient in bf16
  Scratch h_buf = Scratch::of<T>(R * C);       // (R, C): gathered rows of h, when not contiguous
  Scratch dh_buf = Scratch::of<float>(R * C);  // (R, C): their dh before the scatter
  Scratch rows_buf = Scratch::of<int64_t>(R), tgt_buf = Scratch::of<int32_t>(R), order_buf = Scratch::of<int32_t>(R);
  Scratch m_buf = Scratch::of<float>(R), s_buf = Scratch::of<float>(R);
  float* const lt = lt_buf.as<float>();
  int64_t* const rows = rows_buf.as<int64_t>();
  int32_t* const tgt = tgt_buf.as<int32_t>();
  int32_t* const by_target = order_buf.as<int32_t>();
  float* const m = m_buf.as<float>();
  float* const s = s_buf.as<float>();  // the column sums, then lse

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
    const T* hc = h + rows[0] * C;  // (n, C)
    if (!contiguous) {
      for (int64_t r = 0; r < n; ++r) std::memcpy(h_buf.as<T>() + r * C, h + rows[r] * C, C * sizeof(T));
      hc = h_buf.as<T>();
    }

    // Forward: each block of logits, lt[v0 : v0 + vb] (vb, n) = W[v0 : v0 + vb] h_c^T, then its
    // softmax statistics while it is in cache.
    std::fill(m, m + n, -std::numeric_limits<float>::infinity());
    std::fill(s, s + n, 0.0f);
    for (int64_t v0 = 0; v0 < V; v0 += Vb) {
      const int64_t vb = V - v0 < Vb ? V - v0 : Vb;
      gemm(Trans::N, Trans::T, vb, n, C, w + v0 * C, C, hc, C, 0.0f, lt + v0 * n, n);
      internal::lm_head_block_stats(lt + v0 * n, b ? b + v0 : nullptr, vb, n, m, s);
    }
    for (int64_t r = 0; r < n; ++r) {
      s[r] = m[r] + std::log(s[r]);  // lse
      losses[rows[r]] = s[r] - (lt[tgt[r] * n + r] + (b ? b[tgt[r]] : 0.0f));
    }
    if (!want_grad) continue;

    // Backward, block by block: the block's gradient g (vb, n), then its share of dh (a sum over
    // the vocabulary: accumulated across blocks) and its rows of dW, while g is in cache.
    for (int32_t r = 0; r < n; ++r) by_target[r] = r;
    std::sort(by_target, by_target + n, [&](int32_t a, int32_t c) { return tgt[a] < tgt[c]; });
    float* dhc = contiguous ? dh + rows[0] * C : dh_buf.as<float>();  // (n, C)
    for (int64_t v0 = 0; v0 < V; v0 += Vb) {
      const int64_t vb = V - v0 < Vb ? V - v0 : Vb;
      float* const l = lt + v0 * n;
      T* const g = kBf16 ? g_buf.as<T>() : reinterpret_cast<T*>(l);
      internal::lm_head_block_grad(l, b ? b + v0 : nullptr, v0, vb, n, s, by_target, tgt, grad_scale,
                                   kBf16 ? nullptr : l, kBf16 ? reinterpret_cast<bf16*>(g) : nullptr,
                                   db ? db + v0 : nullptr);
      if (dh) gemm(Trans::T, Trans::N, n, C, vb, g, n, w + v0 * C, C, v0 == 0 ? 0.0f : 1.0f, dhc, C);
      if (dw) gemm(Trans::N, Trans::N, vb, C, n, g, n, hc, C, 1.0f, dw + v0 * C, C);
    }
    if (dh && !contiguous)
      for (int64_t r = 0; r < n; ++r) std::memcpy(dh + rows[r] * C, dhc + r * C, C * sizeof(float));
  }
}

}  // namespace

void lm_head_cross_entropy(const float* h, const float* w, const float* b, const int32_t* targets, int64_t N,
                           int64_t C, int64_t V, float grad_scale, float* losses, float* dh, float* dw, float* db) {
  lm_head_impl(h, w, b, targets, N, C, V, grad_scale, losses, dh, dw, db);
}

void lm_head_cross_entropy_bf16(const bf16* h, const bf16* w, const float* b, const int32_t* targets, int64_t N,
                                int64_t C, int64_t V, float grad_scale, float* losses, float* dh, float* dw, float* db) {
  lm_head_impl(h, w, b, targets, N, C, V, grad_scale, losses, dh, dw, db);
}

}  // namespace cornerstone::kernels
