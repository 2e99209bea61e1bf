// Loop helpers over a simd.h vector type V, shared by the kernel .inc files: one loop body serves
// both the full vectors and the masked tail, and the common row reductions are written once.
//
//   for_each_vec<V>(n, [&](int64_t j, int64_t tail) {
//     V::reg v = ld<V>(x + j, tail);     // tail == 0: a full vector; else the count of valid lanes
//     st<V>(y + j, V::mul(v, v), tail);
//   });
//
// After inlining, the main loop sees tail == 0 as a constant and keeps the unmasked loads/stores.
// Masked loads fill the invalid lanes with zeros; a reduction whose per-lane term is not zero for a
// zero input (e.g. (x - mean)^2) must pass it through valid<V>() before accumulating.
#pragma once

#include <cstdint>
#include <limits>

#include "kernels/cpu/dispatch.h"
#include "kernels/cpu/simd.h"

namespace cornerstone::kernels::CS_ISA_NAMESPACE {

template <class V>
inline typename V::reg ld(const float* p, int64_t tail) {
  return tail ? V::load_tail(p, tail) : V::load(p);
}

template <class V>
inline void st(float* p, typename V::reg v, int64_t tail) {
  if (tail)
    V::store_tail(p, v, tail);
  else
    V::store(p, v);
}

// v with the lanes at and beyond `tail` zeroed (unchanged for a full vector).
template <class V>
inline typename V::reg valid(typename V::reg v, int64_t tail) {
  return tail ? V::keep_lanes(v, (1u << tail) - 1u) : v;
}

template <class V, class Body>
inline void for_each_vec(int64_t n, Body&& body) {
  int64_t j = 0;
  for (; j + V::W <= n; j += V::W) body(j, int64_t{0});
  if (j < n) body(j, n - j);
}

// sum over [0, n) of term(j, tail), a V::reg per vector (zero in invalid lanes), in four independent
// accumulators: a single one would chain every add behind the previous (3-4 cycles each) instead of
// issuing two per cycle. term may also store (e.g. the exponentials of a softmax).
template <class V, class Term>
inline float row_reduce(int64_t n, Term&& term) {
  using reg = typename V::reg;
  reg a0 = V::zero(), a1 = V::zero(), a2 = V::zero(), a3 = V::zero();
  int64_t j = 0;
  for (; j + 4 * V::W <= n; j += 4 * V::W) {
    a0 = V::add(a0, term(j, int64_t{0}));
    a1 = V::add(a1, term(j + V::W, int64_t{0}));
    a2 = V::add(a2, term(j + 2 * V::W, int64_t{0}));
    a3 = V::add(a3, term(j + 3 * V::W, int64_t{0}));
  }
  for (; j + V::W <= n; j += V::W) a0 = V::add(a0, term(j, int64_t{0}));
  if (j < n) a1 = V::add(a1, term(j, n - j));
  return V::reduce_add(V::add(V::add(a0, a1), V::add(a2, a3)));
}

template <class V>
inline float row_sum(const float* x, int64_t n) {
  return row_reduce<V>(n, [&](int64_t j, int64_t tail) { return ld<V>(x + j, tail); });
}

// sum_j a_j b_j
template <class V>
inline float row_dot(const float* a, const float* b, int64_t n) {
  return row_reduce<V>(n, [&](int64_t j, int64_t tail) { return V::mul(ld<V>(a + j, tail), ld<V>(b + j, tail)); });
}

template <class V>
inline float row_max(const float* x, int64_t n) {
  using reg = typename V::reg;
  const reg lowest = V::set1(-std::numeric_limits<float>::infinity());
  reg a0 = lowest, a1 = lowest;
  int64_t j = 0;
  for (; j + 2 * V::W <= n; j += 2 * V::W) {
    a0 = V::max(a0, V::load(x + j));
    a1 = V::max(a1, V::load(x + j + V::W));
  }
  for (; j + V::W <= n; j += V::W) a0 = V::max(a0, V::load(x + j));
  float m = V::reduce_max(V::max(a0, a1));
  for (; j < n; ++j) m = x[j] > m ? x[j] : m;  // the tail: zero-filled lanes would bias the max
  return m;
}

// sum_j exp(x_j - shift), writing the exponentials to e (which may alias x) when e is not null.
template <class V>
inline float row_sum_exp(const float* x, float shift, int64_t n, float* e) {
  const typename V::reg vs = V::set1(shift);
  return row_reduce<V>(n, [&](int64_t j, int64_t tail) {
    const typename V::reg ex = valid<V>(V::exp(V::sub(ld<V>(x + j, tail), vs)), tail);
    if (e) st<V>(e + j, ex, tail);
    return ex;
  });
}

// Deterministic column sums over rows (the parameter gradients of norms, biases): rows are cut into
// fixed blocks, each block sums its rows in order into its own partial (a row of C floats), and
// this adds the partials in block order,
//   dw[j] += sum_k partial[k * stride + j] for k = 0 .. nblocks-1,
// with threads splitting the columns. Threads only decide which blocks they compute, never the
// order of an addition, so the sums do not depend on the thread count.
template <class V>
inline void add_block_partials(const float* partial, int64_t nblocks, int64_t stride, int64_t C, float* dw) {
  using reg = typename V::reg;
#pragma omp parallel for schedule(static) if (nblocks * C > kParallelGrain)
  for (int64_t j0 = 0; j0 < C; j0 += 256) {
    const int64_t n = C - j0 < 256 ? C - j0 : 256;
    for_each_vec<V>(n, [&](int64_t j, int64_t tail) {
      reg acc = V::zero();
      for (int64_t k = 0; k < nblocks; ++k) acc = V::add(acc, ld<V>(partial + k * stride + j0 + j, tail));
      st<V>(dw + j0 + j, V::add(ld<V>(dw + j0 + j, tail), acc), tail);
    });
  }
}

}  // namespace cornerstone::kernels::CS_ISA_NAMESPACE
