#include "cornerstone/kernels/optim.h"

#include "kernels/cpu/dispatch.h"

namespace cornerstone::kernels {

CS_DECLARE_VARIANTS(void, adamw_step, (float*, const float*, float*, float*, int64_t, const AdamWHyper&))
CS_DECLARE_VARIANTS(double, sum_squares, (const float*, int64_t))

void adamw_step(float* param, const float* grad, float* m, float* v, int64_t n, const AdamWHyper& h) {
  CS_DISPATCH(adamw_step, param, grad, m, v, n, h);
}
double sum_squares(const float* x, int64_t n) { CS_DISPATCH(sum_squares, x, n); }

}  // namespace cornerstone::kernels
