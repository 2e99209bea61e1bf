#include "cornerstone/kernels/softmax.h"

#include "kernels/cpu/dispatch.h"

namespace cornerstone::kernels {

CS_DECLARE_VARIANTS(void, softmax_forward, (const float*, int64_t, int64_t, float*))
CS_DECLARE_VARIANTS(void, softmax_backward, (const float*, const float*, int64_t, int64_t, float*, bool))

void softmax_forward(const float* x, int64_t N, int64_t C, float* y) { CS_DISPATCH(softmax_forward, x, N, C, y); }
void softmax_backward(const float* y, const float* dy, int64_t N, int64_t C, float* dx, bool accumulate) {
  CS_DISPATCH(softmax_backward, y, dy, N, C, dx, accumulate);
}

}  // namespace cornerstone::kernels
