#include "cornerstone/kernels/conv.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <vector>

#include "conv_direct.h"
#include "cornerstone/kernels/gemm.h"

namespace cornerstone::kernels {

namespace {

// Images per GEMM: as many as keep the column matrix under ~16 MB (at least one).
int64_t images_per_chunk(int64_t rows, int64_t S, int64_t B) {
  return std::clamp<int64_t>((int64_t{4} << 20) / std::max<int64_t>(rows * S, 1), 1, B);
}

// A 1x1 convolution multiplies each image in place, one GEMM per image, when its map is large
// enough for a GEMM of that width to run well. Small maps (a ResNet's late stages: 4, 1 positions)
// go through the column path instead: the images' columns side by side are one wide GEMM, where
// per-image GEMMs of width 4 ran at a tenth of the rate (bench/conv.py).
bool per_image_gemm(const Conv2dGeometry& g) { return g.pointwise() && g.Ho() * g.Wo() >= 64; }

// The kernel taps (ki kw + kj) that read a pixel of the image for at least one output. The others
// read only padding: a 3x3 kernel over a 1x1 map has one live tap, its centre. Dead taps are left
// out of the column matrix and its GEMMs, and their weight gradient is 0.
std::vector<int64_t> live_taps(const Conv2dGeometry& g) {
  auto live = [&](int64_t k, int64_t outputs, int64_t size) {
    for (int64_t i = 0; i < outputs; ++i)
      if (const int64_t p = i * g.stride - g.pad + k; p >= 0 && p < size) return true;
    return false;
  };
  std::vector<int64_t> taps;
  for (int64_t ki = 0; ki < g.kh; ++ki)
    for (int64_t kj = 0; kj < g.kw; ++kj)
      if (live(ki, g.Ho(), g.H) && live(kj, g.Wo(), g.W)) taps.push_back(ki * g.kw + kj);
  return taps;
}

// The columns of images [n0, n0 + n) side by side in col (C L, ld), ld >= n Ho Wo: row c L + t
// holds, for every output pixel, what tap taps[t] of channel c reads (0 in the padding).
void columns(const float* x, int64_t n0, int64_t n, const Conv2dGeometry& g, const std::vector<int64_t>& taps, float* col, int64_t ld) {
  const int64_t Ho = g.Ho(), Wo = g.Wo(), L = static_cast<int64_t>(taps.size());
#pragma omp parallel for schedule(static) collapse(3)
  for (int64_t i = 0; i < n; ++i)
    for (int64_t c = 0; c < g.C; ++c)
      for (int64_t t = 0; t < L; ++t) {
        const int64_t ki = taps[static_cast<size_t>(t)] / g.kw, kj = taps[static_cast<size_t>(t)] % g.kw;
        float* out = col + (c * L + t) * ld + i * Ho * Wo;
        const float* plane = x + ((n0 + i) * g.C + c) * g.H * g.W;
        for (int64_t r = 0; r < Ho; ++r) {
          const int64_t y = r * g.stride - g.pad + ki;
          float* row = out + r * Wo;
          if (y < 0 || y >= g.H) {
            std::memset(row, 0, sizeof(float) * static_cast<size_t>(Wo));
            continue;
          }
          for (int64_t j = 0; j < Wo; ++j) {
            const int64_t xx = j * g.stride - g.pad + kj;
            row[j] = (xx >= 0 && xx < g.W) ? plane[y * g.W + xx] : 0.0f;
          }
        }
      }
}

// The transpose of columns(): adds col's rows back into dx's pixels for images [n0, n0 + n).
void add_columns_back(const float* col, int64_t n0, int64_t n, const Conv2dGeometry& g, const std::vector<int64_t>& taps, int64_t ld,
                      float* dx) {
  const int64_t Ho = g.Ho(), Wo = g.Wo(), L = static_cast<int64_t>(taps.size());
  // One thread per (image, channel) plane: the taps of a channel write overlapping pixels.
#pragma omp parallel for schedule(static) collapse(2)
  for (int64_t i = 0; i < n; ++i)
    for (int64_t c = 0; c < g.C; ++c) {
      float* plane = dx + ((n0 + i) * g.C + c) * g.H * g.W;
      for (int64_t t = 0; t < L; ++t) {
        const int64_t ki = taps[static_cast<size_t>(t)] / g.kw, kj = taps[static_cast<size_t>(t)] % g.kw;
        const float* in = col + (c * L + t) * ld + i * Ho * Wo;
        for (int64_t r = 0; r < Ho; ++r) {
          const int64_t y = r * g.stride - g.pad + ki;
          if (y < 0 || y >= g.H) continue;
          for (int64_t j = 0; j < Wo; ++j) {
            const int64_t xx = j * g.stride - g.pad + kj;
            if (xx >= 0 && xx < g.W) plane[y * g.W + xx] += in[r * Wo + j];
          }
        }
      }
    }
}

// The weights of the live taps, (O, C L), when some taps are dead (else w itself, (O, C kh kw)).
std::vector<float> live_weights(const float* w, int64_t O, const Conv2dGeometry& g, const std::vector<int64_t>& taps) {
  const int64_t L = static_cast<int64_t>(taps.size()), kk = g.kh * g.kw;
  std::vector<float> out(static_cast<size_t>(O * g.C * L));
  for (int64_t o = 0; o < O; ++o)
    for (int64_t c = 0; c < g.C; ++c)
      for (int64_t t = 0; t < L; ++t) out[static_cast<size_t>((o * g.C + c) * L + t)] = w[(o * g.C + c) * kk + taps[static_cast<size_t>(t)]];
  return out;
}

}  // namespace

void conv2d_forward(const float* x, const float* w, const float* b, int64_t B, int64_t O, const Conv2dGeometry& g, float* y) {
  if (conv2d_direct_applies(g)) return conv2d_direct_forward(x, w, b, B, O, g, y);
  const int64_t S = g.Ho() * g.Wo(), K = g.K(), in_plane = g.C * g.H * g.W;
  if (per_image_gemm(g)) {
    // y_b (O, S) = w (O, C) @ x_b (C, S): no columns to build.
    for (int64_t n = 0; n < B; ++n) sgemm(Trans::N, Trans::N, O, S, K, 1.0f, w, K, x + n * in_plane, S, 0.0f, y + n * O * S, S);
  } else {
    const std::vector<int64_t> taps = live_taps(g);
    const int64_t Kl = g.C * static_cast<int64_t>(taps.size()), chunk = images_per_chunk(Kl, S, B);
    const std::vector<float> wl = Kl < K ? live_weights(w, O, g, taps) : std::vector<float>();
    const float* wk = Kl < K ? wl.data() : w;
    std::vector<float> col(static_cast<size_t>(Kl * chunk * S)), out(static_cast<size_t>(O * chunk * S));
    for (int64_t n0 = 0; n0 < B; n0 += chunk) {
      const int64_t n = std::min(chunk, B - n0), ld = n * S;
      columns(x, n0, n, g, taps, col.data(), ld);
      sgemm(Trans::N, Trans::N, O, ld, Kl, 1.0f, wk, Kl, col.data(), ld, 0.0f, out.data(), ld);
      // out (O, n S) -> y (n, O, S)
#pragma omp parallel for schedule(static) collapse(2)
      for (int64_t i = 0; i < n; ++i)
        for (int64_t o = 0; o < O; ++o)
          std::memcpy(y + ((n0 + i) * O + o) * S, out.data() + o * ld + i * S, sizeof(float) * static_cast<size_t>(S));
    }
  }
  if (b) {
#pragma omp parallel for schedule(static) collapse(2)
    for (int64_t n = 0; n < B; ++n)
      for (int64_t o = 0; o < O; ++o) {
        float* p = y + (n * O + o) * S;
        for (int64_t s = 0; s < S; ++s) p[s] += b[o];
      }
  }
}

void conv2d_backward(const float* dy, const float* x, const float* w, int64_t B, int64_t O, const Conv2dGeometry& g,
                     float* dx, bool accumulate, float* dw, float* db) {
  if (conv2d_direct_applies(g)) return conv2d_direct_backward(dy, x, w, B, O, g, dx, accumulate, dw, db);
  const int64_t S = g.Ho() * g.Wo(), K = g.K(), in_plane = g.C * g.H * g.W;
  if (db) {
    for (int64_t n = 0; n < B; ++n)
      for (int64_t o = 0; o < O; ++o) {
        const float* p = dy + (n * O + o) * S;
        float s = 0;
        for (int64_t i = 0; i < S; ++i) s += p[i];
        db[o] += s;
      }
  }
  if (per_image_gemm(g)) {
    for (int64_t n = 0; n < B; ++n) {
      const float* dyn = dy + n * O * S;
      if (dw) sgemm(Trans::N, Trans::T, O, K, S, 1.0f, dyn, S, x + n * in_plane, S, 1.0f, dw, K);
      if (dx) sgemm(Trans::T, Trans::N, K, S, O, 1.0f, w, K, dyn, S, accumulate ? 1.0f : 0.0f, dx + n * in_plane, S);
    }
    return;
  }
  const std::vector<int64_t> taps = live_taps(g);
  const int64_t L = static_cast<int64_t>(taps.size()), Kl = g.C * L, chunk = images_per_chunk(Kl, S, B);
  const bool reduced = Kl < K;
  const std::vector<float> wl = reduced && dx ? live_weights(w, O, g, taps) : std::vector<float>();
  // With dead taps the live taps' weight gradient (O, C L) is summed here, then added into dw.
  std::vector<float> dwl(reduced && dw ? static_cast<size_t>(O * Kl) : 0, 0.0f);
  float* dwk = reduced ? dwl.data() : dw;
  std::vector<float> col(static_cast<size_t>(Kl * chunk * S)), dyc(static_cast<size_t>(O * chunk * S));
  if (dx && !accumulate) std::memset(dx, 0, sizeof(float) * static_cast<size_t>(B * in_plane));
  for (int64_t n0 = 0; n0 < B; n0 += chunk) {
    const int64_t n = std::min(chunk, B - n0), ld = n * S;
    // dy (n, O, S) -> dyc (O, n S)
#pragma omp parallel for schedule(static) collapse(2)
    for (int64_t i = 0; i < n; ++i)
      for (int64_t o = 0; o < O; ++o)
        std::memcpy(dyc.data() + o * ld + i * S, dy + ((n0 + i) * O + o) * S, sizeof(float) * static_cast<size_t>(S));
    if (dw) {
      columns(x, n0, n, g, taps, col.data(), ld);
      sgemm(Trans::N, Trans::T, O, Kl, ld, 1.0f, dyc.data(), ld, col.data(), ld, 1.0f, dwk, Kl);
    }
    if (dx) {
      sgemm(Trans::T, Trans::N, Kl, ld, O, 1.0f, reduced ? wl.data() : w, Kl, dyc.data(), ld, 0.0f, col.data(), ld);
      add_columns_back(col.data(), n0, n, g, taps, ld, dx);
    }
  }
  if (reduced && dw)
    for (int64_t o = 0; o < O; ++o)
      for (int64_t c = 0; c < g.C; ++c)
        for (int64_t t = 0; t < L; ++t)
          dw[(o * g.C + c) * g.kh * g.kw + taps[static_cast<size_t>(t)]] += dwl[static_cast<size_t>((o * g.C + c) * L + t)];
}

// ---- pooling ------------------------------------------------------------------------------------

void max_pool2d_forward(const float* x, int64_t N, const Conv2dGeometry& g, float* y, int32_t* argmax) {
  const int64_t Ho = g.Ho(), Wo = g.Wo();
#pragma omp parallel for schedule(static)
  for (int64_t n = 0; n < N; ++n) {
    const float* plane = x + n * g.H * g.W;
    for (int64_t i = 0; i < Ho; ++i)
      for (int64_t j = 0; j < Wo; ++j) {
        float best = -std::numeric_limits<float>::infinity();
        int32_t at = -1;
        for (int64_t ki = 0; ki < g.kh; ++ki) {
          const int64_t r = i * g.stride - g.pad + ki;
          if (r < 0 || r >= g.H) continue;
          for (int64_t kj = 0; kj < g.kw; ++kj) {
            const int64_t c = j * g.stride - g.pad + kj;
            if (c < 0 || c >= g.W) continue;
            const float v = plane[r * g.W + c];
            if (v > best || at < 0 || v != v) best = v, at = static_cast<int32_t>(r * g.W + c);  // NaN propagates, as in PyTorch
          }
        }
        y[(n * Ho + i) * Wo + j] = best;
        if (argmax) argmax[(n * Ho + i) * Wo + j] = at;
      }
  }
}

void max_pool2d_backward(const float* dy, const int32_t* argmax, int64_t N, const Conv2dGeometry& g, float* dx, bool accumulate) {
  const int64_t S = g.Ho() * g.Wo();
#pragma omp parallel for schedule(static)
  for (int64_t n = 0; n < N; ++n) {
    float* plane = dx + n * g.H * g.W;
    if (!accumulate) std::memset(plane, 0, sizeof(float) * static_cast<size_t>(g.H * g.W));
    for (int64_t s = 0; s < S; ++s) plane[argmax[n * S + s]] += dy[n * S + s];
  }
}

void avg_pool2d_forward(const float* x, int64_t N, const Conv2dGeometry& g, float* y) {
  const int64_t Ho = g.Ho(), Wo = g.Wo();
  const float inv = 1.0f / static_cast<float>(g.kh * g.kw);  // padding counts (count_include_pad)
#pragma omp parallel for schedule(static)
  for (int64_t n = 0; n < N; ++n) {
    const float* plane = x + n * g.H * g.W;
    for (int64_t i = 0; i < Ho; ++i)
      for (int64_t j = 0; j < Wo; ++j) {
        float s = 0;
        for (int64_t ki = 0; ki < g.kh; ++ki) {
          const int64_t r = i * g.stride - g.pad + ki;
          if (r < 0 || r >= g.H) continue;
          for (int64_t kj = 0; kj < g.kw; ++kj) {
            const int64_t c = j * g.stride - g.pad + kj;
            if (c >= 0 && c < g.W) s += plane[r * g.W + c];
          }
        }
        y[(n * Ho + i) * Wo + j] = s * inv;
      }
  }
}

void avg_pool2d_backward(const float* dy, int64_t N, const Conv2dGeometry& g, float* dx, bool accumulate) {
  const int64_t Ho = g.Ho(), Wo = g.Wo();
  const float inv = 1.0f / static_cast<float>(g.kh * g.kw);
#pragma omp parallel for schedule(static)
  for (int64_t n = 0; n < N; ++n) {
    float* plane = dx + n * g.H * g.W;
    if (!accumulate) std::memset(plane, 0, sizeof(float) * static_cast<size_t>(g.H * g.W));
    for (int64_t i = 0; i < Ho; ++i)
      for (int64_t j = 0; j < Wo; ++j) {
        const float d = dy[(n * Ho + i) * Wo + j] * inv;
        for (int64_t ki = 0; ki < g.kh; ++ki) {
          const int64_t r = i * g.stride - g.pad + ki;
          if (r < 0 || r >= g.H) continue;
          for (int64_t kj = 0; kj < g.kw; ++kj) {
            const int64_t c = j * g.stride - g.pad + kj;
            if (c >= 0 && c < g.W) plane[r * g.W + c] += d;
          }
        }
      }
  }
}

// ---- per-channel affine ---------------------------------------------------------------------------

void channel_affine_forward(const float* x, const float* w, const float* b, int64_t B, int64_t C, int64_t S, float* y) {
#pragma omp parallel for schedule(static) collapse(2)
  for (int64_t n = 0; n < B; ++n)
    for (int64_t c = 0; c < C; ++c) {
      const float sw = w ? w[c] : 1.0f, sb = b ? b[c] : 0.0f;
      const float* in = x + (n * C + c) * S;
      float* out = y + (n * C + c) * S;
      for (int64_t s = 0; s < S; ++s) out[s] = in[s] * sw + sb;
    }
}

void channel_affine_backward(const float* dy, const float* x, const float* w, int64_t B, int64_t C, int64_t S, float* dx,
                             bool accumulate, float* dw, float* db) {
  // Parameter gradients: one thread per channel, images summed in order (deterministic).
#pragma omp parallel for schedule(static)
  for (int64_t c = 0; c < C; ++c) {
    double sw = 0, sb = 0;
    for (int64_t n = 0; n < B; ++n) {
      const float* d = dy + (n * C + c) * S;
      const float* in = x + (n * C + c) * S;
      for (int64_t s = 0; s < S; ++s) sw += static_cast<double>(d[s]) * in[s], sb += d[s];
      if (dx) {
        float* out = dx + (n * C + c) * S;
        const float k = w ? w[c] : 1.0f;
        if (accumulate)
          for (int64_t s = 0; s < S; ++s) out[s] += d[s] * k;
        else
          for (int64_t s = 0; s < S; ++s) out[s] = d[s] * k;
      }
    }
    if (dw) dw[c] += static_cast<float>(sw);
    if (db) db[c] += static_cast<float>(sb);
  }
}

}  // namespace cornerstone::kernels

namespace cornerstone::kernels {

void pad2d_forward(const float* x, int64_t N, int64_t H, int64_t W, const Pad2d& p, float* y) {
  const int64_t Hp = H + p.top + p.bottom, Wp = W + p.left + p.right;
#pragma omp parallel for schedule(static)
  for (int64_t n = 0; n < N; ++n) {
    float* out = y + n * Hp * Wp;
    std::memset(out, 0, sizeof(float) * static_cast<size_t>(Hp * Wp));
    for (int64_t i = 0; i < H; ++i)
      std::memcpy(out + (i + p.top) * Wp + p.left, x + (n * H + i) * W, sizeof(float) * static_cast<size_t>(W));
  }
}

void pad2d_backward(const float* dy, int64_t N, int64_t H, int64_t W, const Pad2d& p, float* dx, bool accumulate) {
  const int64_t Hp = H + p.top + p.bottom, Wp = W + p.left + p.right;
#pragma omp parallel for schedule(static)
  for (int64_t n = 0; n < N; ++n)
    for (int64_t i = 0; i < H; ++i) {
      const float* in = dy + n * Hp * Wp + (i + p.top) * Wp + p.left;
      float* out = dx + (n * H + i) * W;
      if (accumulate)
        for (int64_t j = 0; j < W; ++j) out[j] += in[j];
      else
        std::memcpy(out, in, sizeof(float) * static_cast<size_t>(W));
    }
}

}  // namespace cornerstone::kernels
