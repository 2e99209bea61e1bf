// The LM head fused with cross-entropy: losses and gradients of sum_i CE(h_i W^T + b, t_i) without
// ever holding the (N, V) logits. Rows of h are taken R at a time, and each chunk's logits are held
// transposed, lt (V, R), so that all three GEMMs keep the vocabulary as their long dimension:
//
//   lt (V, R)      = W (V, C) h_c^T                  sgemm N,T   (M = V)
//   column pass    : loss, and lt <- g = grad_scale * (softmax - onehot)  (cpu/lm_head.inc)
//   db (V)        += sum_r g[:, r]                   row sums, deterministic
//   dh_c (R, C)    = g^T W                           sgemm T,N   (K = V)
//   dW (V, C)     += g h_c                           sgemm N,N, beta = 1   (M = V)
//
// Rows whose target is ignored (< 0) are dropped before the GEMMs (loss 0, dh row 0), so prompt
// masking in instruction tuning saves their FLOPs too. When a chunk's rows are contiguous in h (the
// usual case) the GEMMs read h and write dh in place; otherwise the rows are gathered / scattered.
//
// Layout. Held row-major, (R, V), the logits would make the first GEMM an M = R problem, which
// oneDNN runs well only from R ~ 256. Transposed, all three GEMMs have V as a long side. Measured on
// the 2-core Zen 5 machine (GPT-2: N = 2048, C = 768, V = 50257), GFLOP/s of the logits / dh / dW
// GEMMs at R = 128: 335 / 464 / 452 row-major, 409 / 433 / 463 transposed; the whole fused kernel
// at R = 128: 388 row-major, 409 transposed (C = 384: 344 vs 380); at R = 256 both ~428 (C = 384:
// ~392). The three GEMMs alone, unchunked, give 477 (C = 384: 440).
//
// Chunk size. Each chunk streams W (V x C) through the caches three times and dW once (read +
// write): ~0.8 GB for GPT-2 against 6 R V C FLOPs, so R must stay large enough for the GEMMs to be
// compute-bound (R = 64: 336 GFLOP/s); the chunk, R V floats, is the memory. We take 256 rows when
// that chunk fits in 32 MiB (V <= 32768: Llama, BERT) and 128 otherwise (GPT-2: 25 MB, ~5% below
// 256 rows, which would take 51 MB; V = 151936: 78 MB).
#include <cstring>
#include <type_traits>

#include "cornerstone/kernels/cross_entropy.h"
#include "cornerstone/kernels/elementwise.h"
#include "cornerstone/kernels/gemm.h"
#include "kernels/cpu/dispatch.h"
#include "kernels/lm_head_pass.h"
#include "kernels/scratch.h"

namespace cornerstone::kernels {

CS_DECLARE_VARIANTS(void, lm_head_softmax_columns,
                    (float*, const float*, const int32_t*, int64_t, int64_t, float, bool, float*))
CS_DECLARE_VARIANTS(void, lm_head_bias_grad, (const float*, int64_t, int64_t, float*))

namespace internal {
void lm_head_softmax_columns(float* lt, const float* bias, const int32_t* targets, int64_t R, int64_t V,
                             float grad_scale, bool want_grad, float* losses) {
  CS_DISPATCH(lm_head_softmax_columns, lt, bias, targets, R, V, grad_scale, want_grad, losses);
}
void lm_head_bias_grad(const float* g, int64_t V, int64_t R, float* db) { CS_DISPATCH(lm_head_bias_grad, g, V, R, db); }
}  // namespace internal

namespace {

int64_t chunk_rows(int64_t V) {
  constexpr int64_t kBudgetBytes = int64_t{32} << 20;
  static_assert(internal::kLmHeadMaxRows == 256);
  return 256 * V * static_cast<int64_t>(sizeof(float)) <= kBudgetBytes ? 256 : 128;
}

}  // namespace

namespace {

// C = op(A) op(B) (+ beta C) with both operands f32 or both bf16, fp32 accumulation.
void gemm(Trans ta, Trans tb, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B, int64_t ldb,
          float beta, float* C, int64_t ldc) {
  sgemm(ta, tb, M, N, K, 1.0f, A, lda, B, ldb, beta, C, ldc);
}
void gemm(Trans ta, Trans tb, int64_t M, int64_t N, int64_t K, const bf16* A, int64_t lda, const bf16* B, int64_t ldb,
          float beta, float* C, int64_t ldc) {
  gemm_bf16(ta, tb, M, N, K, 1.0f, A, lda, B, ldb, beta, C, ldc);
}

// The fused head for f32 or bf16 operands (h, W). With bf16, the gradient chunk is rounded to bf16
// for the two backward GEMMs, as every bf16 GEMM's operands are; the loss and softmax stay fp32.
template <typename T>
void lm_head_impl(const T* h, const T* w, const float* b, const int32_t* targets, int64_t N, int64_t C, int64_t V,
                  float grad_scale, float* losses, float* dh, float* dw, float* db) {
  constexpr bool kBf16 = std::is_same_v<T, bf16>;
  const bool want_grad = dh || dw || db;
  const int64_t R = chunk_rows(V) < N ? chunk_rows(V) : N;
  Scratch lt_buf = Scratch::of<float>(V * R);  // (V, R): logits, then their gradient
  Scratch lt_bf_buf = Scratch::of<T>(kBf16 && want_grad ? V * R : 1);  // (V, R): the gradient in bf16
  Scratch h_buf = Scratch::of<T>(R * C);       // (R, C): gathered rows of h, when not contiguous
  Scratch dh_buf = Scratch::of<float>(R * C);  // (R, C): their dh before the scatter
  Scratch rows_buf = Scratch::of<int64_t>(R), tgt_buf = Scratch::of<int32_t>(R), loss_buf = Scratch::of<float>(R);
  float* const lt = lt_buf.as<float>();
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
    const T* hc = h + rows[0] * C;  // (n, C)
    if (!contiguous) {
      for (int64_t r = 0; r < n; ++r) std::memcpy(h_buf.as<T>() + r * C, h + rows[r] * C, C * sizeof(T));
      hc = h_buf.as<T>();
    }

    gemm(Trans::N, Trans::T, V, n, C, w, C, hc, C, 0.0f, lt, n);  // lt (V, n) = W h_c^T
    internal::lm_head_softmax_columns(lt, b, tgt, n, V, grad_scale, want_grad, loss);
    for (int64_t r = 0; r < n; ++r) losses[rows[r]] = loss[r];
    if (!want_grad) continue;

    if (db) internal::lm_head_bias_grad(lt, V, n, db);
    const T* g = reinterpret_cast<const T*>(lt);  // (V, n) gradient of the logits
    if constexpr (kBf16) {
      f32_to_bf16(lt, V * n, lt_bf_buf.as<T>());
      g = lt_bf_buf.as<T>();
    }
    if (dh) {
      float* dhc = contiguous ? dh + rows[0] * C : dh_buf.as<float>();  // (n, C)
      gemm(Trans::T, Trans::N, n, C, V, g, n, w, C, 0.0f, dhc, C);
      if (!contiguous)
        for (int64_t r = 0; r < n; ++r) std::memcpy(dh + rows[r] * C, dhc + r * C, C * sizeof(float));
    }
    if (dw) gemm(Trans::N, Trans::N, V, C, n, g, n, hc, C, 1.0f, dw, C);
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
