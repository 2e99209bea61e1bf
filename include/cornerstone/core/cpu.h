// What this CPU can do, read once with cpuid, and which kernel variant to run.
//
// Kernels come in three variants, compiled per file (`*_avx512.cpp`, `*_avx2.cpp`, portable C++)
// and chosen at run time by `cpu::isa()`. The environment variable CORNERSTONE_ISA=scalar|avx2|avx512
// caps the choice (tests run every variant this way); `cpu::set_isa()` does the same in-process.
#pragma once

#include <string_view>

namespace cornerstone::cpu {

enum class Isa { Scalar = 0, Avx2 = 1, Avx512 = 2 };

struct Features {
  bool avx2 = false, fma = false, f16c = false;
  bool avx512f = false, avx512bw = false, avx512vl = false, avx512dq = false;
  bool avx512_bf16 = false, avx512_vnni = false;
};

const Features& features();
// The widest variant both the CPU supports and the cap allows. AVX-512 requires F/BW/VL/DQ + BF16 + VNNI.
Isa isa();
// The widest variant the hardware supports (ignores the cap).
Isa best_isa();
// Caps the variant used from now on (clamped to what the CPU supports); returns the effective one.
Isa set_isa(Isa cap);
std::string_view isa_name(Isa isa);
Isa isa_from_name(std::string_view name);  // throws ValueError

}  // namespace cornerstone::cpu
