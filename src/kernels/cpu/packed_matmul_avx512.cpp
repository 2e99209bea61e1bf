#define CS_ISA_NAMESPACE avx512
#define CS_ISA_VEC Avx512
#include "kernels/cpu/packed_matmul.inc"
