// The one oneDNN CPU engine the kernels share (GEMM's bf16 matmuls, the direct convolutions), and a
// stream per thread to run primitives on. Internal to the kernels layer.
#pragma once

#include <dnnl.hpp>

#include <string>

#include "cornerstone/core/error.h"

namespace cornerstone::kernels {

inline dnnl::engine& onednn_engine() {
  static dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  return eng;
}

inline dnnl::stream& onednn_stream() {
  thread_local dnnl::stream st(onednn_engine());
  return st;
}

inline void check_onednn(dnnl_status_t st, const char* what) {
  if (st != dnnl_success) throw Error(std::string("oneDNN ") + what + " failed with status " + std::to_string(st));
}

}  // namespace cornerstone::kernels
