#include "cornerstone/core/cpu.h"

#include <cpuid.h>

#include <atomic>
#include <cstdlib>
#include <string>

#include "cornerstone/core/error.h"

namespace cornerstone::cpu {

namespace {

Features detect() {
  Features f;
  unsigned a, b, c, d;
  if (!__get_cpuid_count(1, 0, &a, &b, &c, &d)) return f;
  const bool osxsave = c & (1u << 27);
  f.fma = c & (1u << 12);
  f.f16c = c & (1u << 29);
  // The OS must save the AVX (YMM) and AVX-512 (opmask, ZMM) register state: XCR0 bits 1-2, 5-7.
  unsigned long long xcr0 = 0;
  if (osxsave) {
    unsigned lo, hi;
    __asm__("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    xcr0 = (static_cast<unsigned long long>(hi) << 32) | lo;
  }
  const bool ymm = (xcr0 & 0x6) == 0x6;
  const bool zmm = (xcr0 & 0xe6) == 0xe6;
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return f;
  f.avx2 = ymm && (b & (1u << 5));
  f.avx512f = zmm && (b & (1u << 16));
  f.avx512dq = zmm && (b & (1u << 17));
  f.avx512bw = zmm && (b & (1u << 30));
  f.avx512vl = zmm && (b & (1u << 31));
  f.avx512_vnni = zmm && (c & (1u << 11));
  unsigned a1, b1, c1, d1;
  if (__get_cpuid_count(7, 1, &a1, &b1, &c1, &d1)) f.avx512_bf16 = zmm && (a1 & (1u << 5));
  return f;
}

Isa hardware_isa() {
  const Features& f = features();
  if (f.avx512f && f.avx512bw && f.avx512vl && f.avx512dq && f.avx512_bf16 && f.avx512_vnni && f.fma && f.f16c)
    return Isa::Avx512;
  if (f.avx2 && f.fma && f.f16c) return Isa::Avx2;
  return Isa::Scalar;
}

Isa clamp(Isa cap) { return static_cast<int>(cap) < static_cast<int>(hardware_isa()) ? cap : hardware_isa(); }

std::atomic<int>& current() {
  static std::atomic<int> isa = [] {
    Isa chosen = hardware_isa();
    if (const char* env = std::getenv("CORNERSTONE_ISA"); env && *env) chosen = clamp(isa_from_name(env));
    return static_cast<int>(chosen);
  }();
  return isa;
}

}  // namespace

const Features& features() {
  static const Features f = detect();
  return f;
}

Isa best_isa() { return hardware_isa(); }

Isa isa() { return static_cast<Isa>(current().load(std::memory_order_relaxed)); }

Isa set_isa(Isa cap) {
  const Isa effective = clamp(cap);
  current().store(static_cast<int>(effective));
  return effective;
}

std::string_view isa_name(Isa isa) {
  switch (isa) {
    case Isa::Avx512: return "avx512";
    case Isa::Avx2: return "avx2";
    default: return "scalar";
  }
}

Isa isa_from_name(std::string_view name) {
  if (name == "avx512") return Isa::Avx512;
  if (name == "avx2") return Isa::Avx2;
  if (name == "scalar") return Isa::Scalar;
  throw ValueError("CORNERSTONE_ISA: unknown value '" + std::string(name) + "' (expected scalar, avx2 or avx512)");
}

}  // namespace cornerstone::cpu
