#include "cornerstone/kernels/cross_entropy.h"

#include "kernels/cpu/dispatch.h"

namespace cornerstone::kernels {

CS_DECLARE_VARIANTS(void, cross_entropy_forward, (const float*, const int32_t*, int64_t, int64_t, float*, float*))
CS_DECLARE_VARIANTS(void, cross_entropy_backward,
                    (const float*, const float*, const int32_t*, const float*, int64_t, int64_t, float*, bool))

void cross_entropy_forward(const float* logits, const int32_t* targets, int64_t N, int64_t V, float* losses,
                           float* lse) {
  CS_DISPATCH(cross_entropy_forward, logits, targets, N, V, losses, lse);
}

void cross_entropy_backward(const float* logits, const float* lse, const int32_t* targets, const float* dloss,
                            int64_t N, int64_t V, float* dlogits, bool accumulate) {
  CS_DISPATCH(cross_entropy_backward, logits, lse, targets, dloss, N, V, dlogits, accumulate);
}

}  // namespace cornerstone::kernels
