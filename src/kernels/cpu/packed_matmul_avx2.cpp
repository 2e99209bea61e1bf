#define CS_ISA_NAMESPACE avx2
#define CS_ISA_VEC Avx2
#include "kernels/cpu/packed_matmul.inc"
