#include "cornerstone/kernels/activation.h"

#include <algorithm>
#include <cmath>

#include "kernels/cpu/dispatch.h"

namespace cornerstone::kernels {

CS_DECLARE_VARIANTS(void, gelu_forward, (GeluKind, const float*, int64_t, float*))
CS_DECLARE_VARIANTS(void, gelu_backward, (GeluKind, const float*, const float*, int64_t, float*, bool))
CS_DECLARE_VARIANTS(void, gelu_backward_bias, (GeluKind, const float*, const float*, int64_t, int64_t, float*, bf16*, float*))
CS_DECLARE_VARIANTS(void, silu_forward, (const float*, int64_t, float*))
CS_DECLARE_VARIANTS(void, silu_backward, (const float*, const float*, int64_t, float*, bool))
CS_DECLARE_VARIANTS(void, tanh_forward, (const float*, int64_t, float*))
CS_DECLARE_VARIANTS(void, tanh_backward, (const float*, const float*, int64_t, float*, bool))
CS_DECLARE_VARIANTS(void, swiglu_forward, (const float*, int64_t, int64_t, float*))
CS_DECLARE_VARIANTS(void, swiglu_backward, (const float*, const float*, int64_t, int64_t, float*, bool))

void gelu_forward(GeluKind kind, const float* x, int64_t n, float* y) { CS_DISPATCH(gelu_forward, kind, x, n, y); }
void gelu_backward(GeluKind kind, const float* x, const float* dy, int64_t n, float* dx, bool accumulate) {
  CS_DISPATCH(gelu_backward, kind, x, dy, n, dx, accumulate);
}
void gelu_backward_bias(GeluKind kind, const float* h, const float* dy, int64_t N, int64_t F, float* dh, bf16* dh_bf16,
                        float* db) {
  CS_DISPATCH(gelu_backward_bias, kind, h, dy, N, F, dh, dh_bf16, db);
}
void silu_forward(const float* x, int64_t n, float* y) { CS_DISPATCH(silu_forward, x, n, y); }
void silu_backward(const float* x, const float* dy, int64_t n, float* dx, bool accumulate) {
  CS_DISPATCH(silu_backward, x, dy, n, dx, accumulate);
}
void log_sigmoid_forward(const float* x, int64_t n, float* y) {
  for (int64_t i = 0; i < n; ++i) y[i] = std::min(x[i], 0.0f) - std::log1p(std::exp(-std::fabs(x[i])));
}
void log_sigmoid_backward(const float* x, const float* dy, int64_t n, float* dx, bool accumulate) {
  for (int64_t i = 0; i < n; ++i) {
    // sigmoid(-x), from exp(-|x|) so that it never overflows
    const float e = std::exp(-std::fabs(x[i]));
    const float s = x[i] >= 0 ? e / (1.0f + e) : 1.0f / (1.0f + e);
    dx[i] = (accumulate ? dx[i] : 0.0f) + dy[i] * s;
  }
}
void tanh_forward(const float* x, int64_t n, float* y) { CS_DISPATCH(tanh_forward, x, n, y); }
void tanh_backward(const float* y, const float* dy, int64_t n, float* dx, bool accumulate) {
  CS_DISPATCH(tanh_backward, y, dy, n, dx, accumulate);
}
void swiglu_forward(const float* gate_up, int64_t N, int64_t F, float* y) {
  CS_DISPATCH(swiglu_forward, gate_up, N, F, y);
}
void swiglu_backward(const float* gate_up, const float* dy, int64_t N, int64_t F, float* dgate_up, bool accumulate) {
  CS_DISPATCH(swiglu_backward, gate_up, dy, N, F, dgate_up, accumulate);
}

// Plain loops: the compiler vectorises them at every ISA level.
void relu_forward(const float* x, int64_t n, float* y) {
#pragma omp parallel for schedule(static) if (n > (1 << 16))
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

void relu_backward(const float* y, const float* dy, int64_t n, float* dx, bool accumulate) {
#pragma omp parallel for schedule(static) if (n > (1 << 16))
  for (int64_t i = 0; i < n; ++i) {
    const float d = y[i] > 0.0f ? dy[i] : 0.0f;
    dx[i] = accumulate ? dx[i] + d : d;
  }
}

}  // namespace cornerstone::kernels
