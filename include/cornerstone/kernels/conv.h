// 2-D convolution, and the image-plane kernels around it (pooling, per-channel affine), on NCHW
// float32 tensors.
//
// Spatial convolutions over >= 16 input channels (a ResNet's 3x3s) run oneDNN's direct convolution
// primitives (kernels/conv_direct.cpp: channel-blocked JIT kernels, reordered in and out). The rest
// (1- and 3-channel stems, ViT patch embeddings, 1x1 convolutions) are im2col + GEMM, faster there:
//
// A convolution of x (B, C, H, W) with w (O, C, kh, kw), stride s and zero padding p gives
// y (B, O, Ho, Wo), Ho = (H + 2p - kh) / s + 1. im2col lays each image's receptive fields out as
// the columns of a (C kh kw, Ho Wo) matrix, so that the convolution is one GEMM per chunk of images:
//
//   col (K = C kh kw, n Ho Wo)     im2col of n images side by side
//   y'  (O, n Ho Wo) = w (O, K) @ col                    forward
//   dw  (O, K)      += dy' (O, n Ho Wo) @ col^T           backward, weight
//   dcol (K, n Ho Wo) = w^T @ dy';  col2im(dcol) -> dx    backward, input
//
// Worked example: x (1, 1, 4, 4), w (1, 1, 3, 3), s = 1, p = 1: K = 9, Ho = Wo = 4, col (9, 16);
// column 0 (output pixel (0, 0)) holds x[-1..1, -1..1] with zeros where the window leaves the image.
// Kernel taps that read only padding for every output (all but the centre of a 3x3 kernel over a
// 1x1 map) are left out of col, the GEMMs and the weight gradient (which gets 0 there).
// A 1x1 convolution with stride 1 and no padding on a map of >= 64 pixels skips im2col (col is the
// image itself, one GEMM per image).
// Gradient conventions follow kernels/norm.h: dx is overwritten or accumulated, dw / db added into.
#pragma once

#include <cstdint>

namespace cornerstone::kernels {

struct Conv2dGeometry {
  int64_t C, H, W;       // input channels and size
  int64_t kh, kw;        // kernel size
  int64_t stride, pad;   // the same along both axes
  int64_t Ho() const { return (H + 2 * pad - kh) / stride + 1; }
  int64_t Wo() const { return (W + 2 * pad - kw) / stride + 1; }
  int64_t K() const { return C * kh * kw; }
  bool pointwise() const { return kh == 1 && kw == 1 && stride == 1 && pad == 0; }
};

// x (B, C, H, W), w (O, C, kh, kw), b (O) or null -> y (B, O, Ho, Wo).
void conv2d_forward(const float* x, const float* w, const float* b, int64_t B, int64_t O, const Conv2dGeometry& g, float* y);
// dy (B, O, Ho, Wo) -> dx (B, C, H, W) (null: skipped; overwritten, or added into when
// `accumulate`), dw (O, C, kh, kw) += and db (O) += (null: skipped).
void conv2d_backward(const float* dy, const float* x, const float* w, int64_t B, int64_t O, const Conv2dGeometry& g,
                     float* dx, bool accumulate, float* dw, float* db);

// Pooling over kh x kw windows with stride s and padding p (PyTorch's semantics: max pooling
// ignores the padding, average pooling counts it as zeros), x (N, H, W) planes -> y (N, Ho, Wo).
// max_pool2d_forward saves the argmax (the index inside its plane, int32) of every output.
void max_pool2d_forward(const float* x, int64_t N, const Conv2dGeometry& g, float* y, int32_t* argmax);
void max_pool2d_backward(const float* dy, const int32_t* argmax, int64_t N, const Conv2dGeometry& g, float* dx, bool accumulate);
void avg_pool2d_forward(const float* x, int64_t N, const Conv2dGeometry& g, float* y);
void avg_pool2d_backward(const float* dy, int64_t N, const Conv2dGeometry& g, float* dx, bool accumulate);

// Per-channel affine over (B, C, S): y = x * w[c] + b[c] (w or b null: 1 or 0). The backward adds
// dw[c] += sum dy x, db[c] += sum dy (null: skipped) and writes or adds dx = dy w[c].
void channel_affine_forward(const float* x, const float* w, const float* b, int64_t B, int64_t C, int64_t S, float* y);
void channel_affine_backward(const float* dy, const float* x, const float* w, int64_t B, int64_t C, int64_t S, float* dx,
                             bool accumulate, float* dw, float* db);

}  // namespace cornerstone::kernels

namespace cornerstone::kernels {

// Zero padding of planes: x (N, H, W) -> y (N, H + top + bottom, W + left + right); the backward
// crops dy back (overwriting dx, or adding into it when `accumulate`).
struct Pad2d {
  int64_t left, right, top, bottom;
};
void pad2d_forward(const float* x, int64_t N, int64_t H, int64_t W, const Pad2d& p, float* y);
void pad2d_backward(const float* dy, int64_t N, int64_t H, int64_t W, const Pad2d& p, float* dx, bool accumulate);

}  // namespace cornerstone::kernels
