#define CS_ISA_NAMESPACE scalar
#define CS_ISA_VEC Scalar
#include "kernels/cpu/packed_matmul.inc"
