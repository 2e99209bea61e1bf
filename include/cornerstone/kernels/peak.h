// What this machine can do, measured: the denominators of MFU and of the GEMM efficiency figures.
#pragma once

namespace cornerstone::kernels {

// Register-only multiply-add loop on all OpenMP threads (current thread count): fp32 FMA, or bf16
// dot products (vdpbf16ps, 2 flops per bf16 pair) when bf16 is true. GFLOP/s. ~0.2 s.
double fma_peak_gflops(bool bf16);

// GFLOP/s of the GEMM library on a large square-ish product (M = N = K = 2048), fp32 or bf16 inputs.
// The first call measures (~0.3 s); later calls return the cached figure for the same thread count.
double gemm_peak_gflops(bool bf16);

}  // namespace cornerstone::kernels
