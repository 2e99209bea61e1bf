// Fused attention: argument checks, then the widest ISA variant (kernels/cpu/attention.inc).
#include "cornerstone/kernels/attention.h"

#include <string>

#include "cornerstone/core/error.h"
#include "kernels/cpu/dispatch.h"

namespace cornerstone::kernels {

CS_DECLARE_VARIANTS(void, attention_forward,
                    (const AttentionDims&, HeadsView<const float>, HeadsView<const float>, HeadsView<const float>,
                     HeadsView<float>, float*))
CS_DECLARE_VARIANTS(void, attention_backward,
                    (const AttentionDims&, HeadsView<const float>, HeadsView<const float>, HeadsView<const float>,
                     HeadsView<const float>, HeadsView<const float>, const float*, HeadsView<float>,
                     HeadsView<float>, HeadsView<float>))

namespace {

std::string describe(const AttentionDims& d) {
  return "(batch " + std::to_string(d.batch) + ", q_len " + std::to_string(d.q_len) + ", kv_len " +
         std::to_string(d.kv_len) + ", n_heads " + std::to_string(d.n_heads) + ", n_kv_heads " +
         std::to_string(d.n_kv_heads) + ", head_dim " + std::to_string(d.head_dim) + ")";
}

void check_dims(const char* op, const AttentionDims& d) {
  if (d.batch < 0 || d.q_len < 0 || d.kv_len < 0 || d.n_heads <= 0 || d.n_kv_heads <= 0 || d.head_dim <= 0)
    throw ShapeError(std::string(op) + ": sizes must be positive " + describe(d));
  if (d.n_heads % d.n_kv_heads != 0)
    throw ShapeError(std::string(op) + ": n_heads must be a multiple of n_kv_heads " + describe(d));
  if (d.causal && d.kv_len < d.q_len)
    throw ShapeError(std::string(op) + ": causal attention needs kv_len >= q_len (queries are the last q_len " +
                     "positions) " + describe(d));
  if (d.kv_len == 0 && d.q_len > 0)
    throw ShapeError(std::string(op) + ": queries need at least one key " + describe(d));
}

template <typename T>
void check_view(const char* op, const char* name, HeadsView<T> x, int64_t tokens) {
  if (!x.data && tokens > 0) throw ValueError(std::string(op) + ": " + name + " is null");
}

}  // namespace

void attention_forward(const AttentionDims& dims, HeadsView<const float> q, HeadsView<const float> k,
                       HeadsView<const float> v, HeadsView<float> out, float* lse) {
  check_dims("attention_forward", dims);
  const char* op = "attention_forward";
  check_view(op, "q", q, dims.q_len), check_view(op, "out", out, dims.q_len);
  check_view(op, "k", k, dims.kv_len), check_view(op, "v", v, dims.kv_len);
  if (dims.batch == 0 || dims.q_len == 0) return;
  CS_DISPATCH(attention_forward, dims, q, k, v, out, lse);
}

void attention_backward(const AttentionDims& dims, HeadsView<const float> q, HeadsView<const float> k,
                        HeadsView<const float> v, HeadsView<const float> out, HeadsView<const float> dout,
                        const float* lse, HeadsView<float> dq, HeadsView<float> dk, HeadsView<float> dv) {
  check_dims("attention_backward", dims);
  const char* op = "attention_backward";
  check_view(op, "q", q, dims.q_len), check_view(op, "out", out, dims.q_len);
  check_view(op, "dout", dout, dims.q_len), check_view(op, "dq", dq, dims.q_len);
  check_view(op, "k", k, dims.kv_len), check_view(op, "v", v, dims.kv_len);
  check_view(op, "dk", dk, dims.kv_len), check_view(op, "dv", dv, dims.kv_len);
  if (!lse && dims.q_len > 0) throw ValueError("attention_backward: lse is null (save it in attention_forward)");
  if (dims.batch == 0) return;
  CS_DISPATCH(attention_backward, dims, q, k, v, out, dout, lse, dq, dk, dv);
}

}  // namespace cornerstone::kernels
