#include "cornerstone/kernels/embedding.h"

#include "kernels/cpu/dispatch.h"

namespace cornerstone::kernels {

CS_DECLARE_VARIANTS(void, embedding_forward, (const float*, const int32_t*, int64_t, int64_t, float*))
CS_DECLARE_VARIANTS(void, embedding_backward, (const float*, const int32_t*, int64_t, int64_t, float*))

void embedding_forward(const float* table, const int32_t* ids, int64_t N, int64_t C, float* out) {
  CS_DISPATCH(embedding_forward, table, ids, N, C, out);
}
void embedding_backward(const float* dout, const int32_t* ids, int64_t N, int64_t C, float* dtable) {
  CS_DISPATCH(embedding_backward, dout, ids, N, C, dtable);
}

}  // namespace cornerstone::kernels
