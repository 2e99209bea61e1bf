// Rotary embeddings: the table against values PyTorch computes with Hugging Face's formula, the
// rotation against a scalar float32 transcription of HF's `x * cos + rotate_half(x) * sin` (bit for
// bit), inverse = identity, inverse = transpose (the backward), strided and partial-rotary views.
#include <cmath>
#include <string>
#include <vector>

#include "cornerstone/core/error.h"
#include "cornerstone/kernels/rope.h"
#include "support/test_util.h"

namespace cornerstone::testing {
namespace {

using kernels::HeadsView;
using kernels::RopeTable;

template <class Body>
void each_isa(Body&& body) {
  for (cpu::Isa isa : available_isas()) {
    IsaScope scope(isa);
    SCOPED_TRACE("isa=" + std::string(cpu::isa_name(isa)));
    body();
  }
}

struct Table {
  std::vector<float> cos, sin;
  RopeTable t;
  Table(float theta, int64_t rotary_dim, int64_t max_pos)
      : cos(max_pos * rotary_dim / 2), sin(max_pos * rotary_dim / 2), t{max_pos, rotary_dim / 2, nullptr, nullptr} {
    kernels::rope_fill_table(theta, rotary_dim, max_pos, cos.data(), sin.data());
    t.cos = cos.data(), t.sin = sin.data();
  }
};

// Computed by PyTorch 1.13 (/usr/bin/python3):
//   inv = 1.0 / (theta ** (torch.arange(0, D, 2, dtype=torch.int64).float() / D))
//   f = torch.outer(torch.arange(4096, dtype=torch.int64).type_as(inv), inv); f.cos(), f.sin()
// At position 4095 an angle computed in double would move cos by up to 1.2e-4: these values pin
// the float32 angle.
struct Golden {
  float theta;
  int64_t D, pos, i;
  float cos, sin;
};
const Golden kGolden[] = {
    {10000, 64, 1, 1, 7.317609787e-01f, 6.815613508e-01f},
    {10000, 64, 7, 5, -8.904714882e-02f, 9.960274100e-01f},
    {10000, 64, 100, 16, 5.403023362e-01f, 8.414709568e-01f},
    {10000, 64, 100, 31, 9.999110699e-01f, 1.333482005e-02f},
    {10000, 64, 2047, 1, -3.573565185e-01f, 9.339680672e-01f},
    {10000, 64, 2047, 5, -4.408674315e-02f, 9.990277290e-01f},
    {10000, 64, 4095, 1, -9.004636109e-02f, -9.959375858e-01f},
    {10000, 64, 4095, 5, -9.475278258e-01f, -3.196733296e-01f},
    {10000, 64, 4095, 16, -9.940330982e-01f, -1.090787947e-01f},
    {10000, 64, 4095, 31, 8.545684218e-01f, 5.193388462e-01f},
    {500000, 128, 1, 63, 1.000000000e+00f, 2.455140702e-06f},
    {500000, 128, 7, 1, 8.359884620e-01f, -5.487470627e-01f},
    {500000, 128, 2047, 5, 6.881354451e-01f, -7.255822420e-01f},
    {500000, 128, 2047, 63, 9.999873638e-01f, 5.025652237e-03f},
    {500000, 128, 4095, 1, 8.707965016e-01f, -4.916436076e-01f},
    {500000, 128, 4095, 32, 8.813986778e-01f, -4.723731577e-01f},
    {500000, 128, 4095, 63, 9.999494553e-01f, 1.005363185e-02f},
};

double ulp(float x) { return std::nextafter(std::fabs(x), INFINITY) - std::fabs(x); }

TEST(Rope, TableMatchesHuggingFace) {
  for (const Golden& g : kGolden) {
    SCOPED_TRACE("theta " + std::to_string(g.theta) + " D " + std::to_string(g.D) + " pos " + std::to_string(g.pos) +
                 " i " + std::to_string(g.i));
    const Table tab(g.theta, g.D, 4096);
    // PyTorch's float cos/sin are within 1 ulp of correctly rounded; ours are correctly rounded.
    EXPECT_NEAR(tab.cos[g.pos * g.D / 2 + g.i], g.cos, ulp(g.cos));
    EXPECT_NEAR(tab.sin[g.pos * g.D / 2 + g.i], g.sin, ulp(g.sin));
  }
  const Table tab(10000, 64, 2);  // position 0: no rotation
  for (int i = 0; i < 32; ++i) {
    EXPECT_EQ(tab.cos[i], 1.0f);
    EXPECT_EQ(tab.sin[i], 0.0f);
  }
}

// HF in float32, one element at a time: q * cos + rotate_half(q) * sin, each product rounded.
std::vector<float> rotate_reference(const std::vector<float>& x, const Table& tab, int64_t B, int64_t T, int64_t H,
                                    int64_t D, int64_t start) {
  std::vector<float> y = x;
  const int64_t half = tab.t.half_dim;
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t < T; ++t)
      for (int64_t h = 0; h < H; ++h) {
        const float* row = &x[((b * T + t) * H + h) * D];
        float* out = &y[((b * T + t) * H + h) * D];
        for (int64_t i = 0; i < half; ++i) {
          const float c = tab.cos[(start + t) * half + i], s = tab.sin[(start + t) * half + i];
          const float x1c = row[i] * c, x2c = row[i + half] * c, x2s = -row[i + half] * s, x1s = row[i] * s;
          out[i] = x1c + x2s;
          out[i + half] = x2c + x1s;
        }
      }
  return y;
}

TEST(Rope, RotationIsBitIdenticalToHuggingFaceFormula) {
  for (int64_t D : {8, 40, 64, 80, 128, 6}) {
    SCOPED_TRACE("D=" + std::to_string(D));
    const int64_t B = 2, T = 13, H = 3, start = 1000;
    const Table tab(10000, D, 2048);
    const std::vector<float> x = random_vector(B * T * H * D, 1);
    const std::vector<float> expected = rotate_reference(x, tab, B, T, H, D, start);
    each_isa([&] {
      std::vector<float> y = x;
      kernels::rope_apply(tab.t, {y.data(), T * H * D, H * D, D}, B, T, H, D, start, false);
      EXPECT_TRUE(all_close(y, expected, 0, 0));
    });
  }
}

TEST(Rope, InverseUndoesAndIsTheTranspose) {
  const int64_t B = 2, T = 37, H = 4, D = 64;
  const Table tab(10000, D, 64);
  const std::vector<float> x = random_vector(B * T * H * D, 2), g = random_vector(B * T * H * D, 3);
  each_isa([&] {
    std::vector<float> y = x;
    const HeadsView<float> view{y.data(), T * H * D, H * D, D};
    kernels::rope_apply(tab.t, view, B, T, H, D, 0, false);
    std::vector<float> r = y;
    kernels::rope_apply(tab.t, {r.data(), T * H * D, H * D, D}, B, T, H, D, 0, true);
    EXPECT_TRUE(all_close(r, x, 1e-6, 1e-6));  // R^T R x = x
    // Backward: <R x, g> == <x, R^T g>, i.e. dx = R^T dy is the gradient of y = R x.
    std::vector<float> gt = g;
    kernels::rope_apply(tab.t, {gt.data(), T * H * D, H * D, D}, B, T, H, D, 0, true);
    double lhs = 0, rhs = 0;
    for (size_t i = 0; i < x.size(); ++i) lhs += double(y[i]) * g[i], rhs += double(x[i]) * gt[i];
    EXPECT_NEAR(lhs, rhs, 1e-4);
  });
}

TEST(Rope, StridedViewOfFusedQkvAndPartialRotary) {
  // q and k rotated inside a fused (B, T, (Hq + 2 Hk) D) projection, with rotary_dim = 16 < D = 32:
  // the last 16 dims of each head and the whole v slice must be untouched.
  const int64_t B = 2, T = 9, Hq = 4, Hk = 2, D = 32, rot = 16, ts = (Hq + 2 * Hk) * D;
  const Table tab(10000, rot, 32);
  const std::vector<float> x = random_vector(B * T * ts, 4);
  each_isa([&] {
    std::vector<float> y = x;
    kernels::rope_apply(tab.t, {y.data(), T * ts, ts, D}, B, T, Hq, D, 5, false);
    kernels::rope_apply(tab.t, {y.data() + Hq * D, T * ts, ts, D}, B, T, Hk, D, 5, false);
    for (int64_t b = 0; b < B; ++b)
      for (int64_t t = 0; t < T; ++t)
        for (int64_t h = 0; h < Hq + 2 * Hk; ++h) {
          const int64_t at = (b * T + t) * ts + h * D;
          for (int64_t d = 0; d < D; ++d) {
            if (h < Hq + Hk && d < rot) continue;
            ASSERT_EQ(y[at + d], x[at + d]) << "b " << b << " t " << t << " h " << h << " d " << d;
          }
          if (h >= Hq + Hk) continue;
          const int64_t half = rot / 2;
          for (int64_t i = 0; i < half; ++i) {
            const float c = tab.cos[(5 + t) * half + i], s = tab.sin[(5 + t) * half + i];
            EXPECT_EQ(y[at + i], x[at + i] * c + -x[at + i + half] * s);
            EXPECT_EQ(y[at + i + half], x[at + i + half] * c + x[at + i] * s);
          }
        }
  });
}

TEST(Rope, RejectsPositionsBeyondTheTable) {
  const Table tab(10000, 8, 16);
  std::vector<float> x(8 * 8);
  const HeadsView<float> v{x.data(), 64, 8, 8};
  EXPECT_THROW(kernels::rope_apply(tab.t, v, 1, 8, 1, 8, 9, false), ShapeError);  // positions 9..16
  EXPECT_NO_THROW(kernels::rope_apply(tab.t, v, 1, 8, 1, 8, 8, false));
  EXPECT_THROW(kernels::rope_apply(tab.t, v, 1, 8, 1, 4, 0, false), ShapeError);  // head smaller than table
  EXPECT_THROW(kernels::rope_fill_table(10000, 7, 4, x.data(), x.data()), ValueError);
}

}  // namespace
}  // namespace cornerstone::testing
