#include "cornerstone/kernels/dropout.h"

#include "kernels/cpu/dispatch.h"

namespace cornerstone::kernels {

CS_DECLARE_VARIANTS(void, dropout_forward, (const float*, int64_t, float, uint64_t, uint64_t, float*, uint8_t*))
CS_DECLARE_VARIANTS(void, dropout_backward, (const float*, const uint8_t*, int64_t, float, float*, bool))

void dropout_forward(const float* x, int64_t n, float p, uint64_t seed, uint64_t counter, float* y, uint8_t* mask) {
  CS_DISPATCH(dropout_forward, x, n, p, seed, counter, y, mask);
}
void dropout_backward(const float* dy, const uint8_t* mask, int64_t n, float p, float* dx, bool accumulate) {
  CS_DISPATCH(dropout_backward, dy, mask, n, p, dx, accumulate);
}

}  // namespace cornerstone::kernels
