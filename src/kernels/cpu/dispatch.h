// Runtime selection between a kernel's ISA variants (see kernels/cpu/simd.h for how they are built).
//
//   namespace cornerstone::kernels {
//   CS_DECLARE_VARIANTS(void, scale, (float* x, int64_t n, float s))
//   void scale(float* x, int64_t n, float s) { CS_DISPATCH(scale, x, n, s); }
//   }
#pragma once

#include "cornerstone/core/cpu.h"

#define CS_DECLARE_VARIANTS(ret, name, params) \
  namespace scalar {                           \
  ret name params;                             \
  }                                            \
  namespace avx2 {                             \
  ret name params;                             \
  }                                            \
  namespace avx512 {                           \
  ret name params;                             \
  }

#define CS_DISPATCH(name, ...)                            \
  switch (::cornerstone::cpu::isa()) {                    \
    case ::cornerstone::cpu::Isa::Avx512:                 \
      return avx512::name(__VA_ARGS__);                   \
    case ::cornerstone::cpu::Isa::Avx2:                   \
      return avx2::name(__VA_ARGS__);                     \
    default:                                              \
      return scalar::name(__VA_ARGS__);                   \
  }

// Below this many elements a pointwise kernel runs on the calling thread: waking the OpenMP team
// costs more than the work.
inline constexpr long kParallelGrain = 1 << 15;
