// Matrix-product precision for the current thread: f32, or bf16 mixed precision.
//
// Under BF16, the GEMMs of `linear`, `matmul` and the fused LM head round their operands to bf16
// and accumulate in fp32 (AVX512-BF16 dot products), both forward and backward; parameters,
// gradients, optimizer state and everything outside the GEMMs stay fp32 (master weights). This is
// what `pretrain --precision bf16` turns on:
//
//   { ops::PrecisionGuard bf16(ops::Precision::BF16); loss = model.loss(x, y); loss.backward(); }
#pragma once

namespace cornerstone::ops {

enum class Precision { F32, BF16 };

Precision matmul_precision();
void set_matmul_precision(Precision p);

class PrecisionGuard {
 public:
  explicit PrecisionGuard(Precision p) : prev_(matmul_precision()) { set_matmul_precision(p); }
  ~PrecisionGuard() { set_matmul_precision(prev_); }
  PrecisionGuard(const PrecisionGuard&) = delete;
  PrecisionGuard& operator=(const PrecisionGuard&) = delete;

 private:
  Precision prev_;
};

}  // namespace cornerstone::ops
