#include "cornerstone/kernels/norm.h"

#include "kernels/cpu/dispatch.h"

namespace cornerstone::kernels {

CS_DECLARE_VARIANTS(void, layernorm_forward,
                    (const float*, const float*, const float*, int64_t, int64_t, float, float*, float*, float*))
CS_DECLARE_VARIANTS(void, layernorm_backward,
                    (const float*, const float*, const float*, const float*, const float*, int64_t, int64_t, float*,
                     bool, float*, float*))
CS_DECLARE_VARIANTS(void, rmsnorm_forward, (const float*, const float*, int64_t, int64_t, float, float*, float*))
CS_DECLARE_VARIANTS(void, rmsnorm_backward,
                    (const float*, const float*, const float*, const float*, int64_t, int64_t, float*, bool, float*))
CS_DECLARE_VARIANTS(void, groupnorm_forward,
                    (const float*, const float*, const float*, int64_t, int64_t, int64_t, int64_t, float, bool, float*, float*,
                     float*))
CS_DECLARE_VARIANTS(void, groupnorm_backward,
                    (const float*, const float*, const float*, const float*, const float*, const float*, int64_t, int64_t,
                     int64_t, int64_t, float*, bool, float*, float*))

void layernorm_forward(const float* x, const float* w, const float* b, int64_t N, int64_t C, float eps, float* y,
                       float* mean, float* rstd) {
  CS_DISPATCH(layernorm_forward, x, w, b, N, C, eps, y, mean, rstd);
}

void layernorm_backward(const float* dy, const float* x, const float* w, const float* mean, const float* rstd,
                        int64_t N, int64_t C, float* dx, bool accumulate, float* dw, float* db) {
  CS_DISPATCH(layernorm_backward, dy, x, w, mean, rstd, N, C, dx, accumulate, dw, db);
}

void rmsnorm_forward(const float* x, const float* w, int64_t N, int64_t C, float eps, float* y, float* rstd) {
  CS_DISPATCH(rmsnorm_forward, x, w, N, C, eps, y, rstd);
}

void rmsnorm_backward(const float* dy, const float* x, const float* w, const float* rstd, int64_t N, int64_t C,
                      float* dx, bool accumulate, float* dw) {
  CS_DISPATCH(rmsnorm_backward, dy, x, w, rstd, N, C, dx, accumulate, dw);
}

void groupnorm_forward(const float* x, const float* w, const float* b, int64_t B, int64_t C, int64_t S, int64_t G, float eps,
                       bool relu, float* y, float* mean, float* rstd) {
  CS_DISPATCH(groupnorm_forward, x, w, b, B, C, S, G, eps, relu, y, mean, rstd);
}

void groupnorm_backward(const float* dy, const float* x, const float* y, const float* w, const float* mean, const float* rstd,
                        int64_t B, int64_t C, int64_t S, int64_t G, float* dx, bool accumulate, float* dw, float* db) {
  CS_DISPATCH(groupnorm_backward, dy, x, y, w, mean, rstd, B, C, S, G, dx, accumulate, dw, db);
}

}  // namespace cornerstone::kernels
