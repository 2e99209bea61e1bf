// Direct convolution through oneDNN's convolution primitives (JIT kernels over channel-blocked
// layouts, nChw16c), for the spatial convolutions of ResNets. im2col + GEMM spends much of a 3x3
// convolution on small maps writing and re-reading its column matrix; oneDNN's direct kernels read
// the image in place and run the 3x3 forward at ~2x the im2col rate (bench/conv.py). Tensors stay
// NCHW outside: each call reorders into the primitive's layout and back, as PyTorch does.
//
// A primitive set (forward, backward-data, backward-weights and the reorders around each) is built
// once per geometry and cached; the backward primitives only when a backward first runs.
#include "conv_direct.h"

#include <cstdlib>
#include <cstring>
#include <string>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <tuple>
#include <unordered_map>

#include "onednn.h"
#include "scratch.h"

namespace cornerstone::kernels {

namespace {

using dnnl::memory;
using tag = memory::format_tag;
constexpr auto f32 = memory::data_type::f32;

struct Key {
  int64_t B, C, H, W, O, kh, kw, stride, pad;
  bool bias;
  auto tie() const { return std::tie(B, C, H, W, O, kh, kw, stride, pad, bias); }
  bool operator<(const Key& o) const { return tie() < o.tie(); }
};

// One tensor between the caller's plain layout and a primitive's, with the reorders both ways where
// they differ (`out_add` accumulates into the plain tensor: a reorder with a sum post-op). Built
// whole at construction, so running a cached primitive set mutates nothing.
struct Relayout {
  memory::desc plain, inner;
  std::optional<dnnl::reorder> in, out, out_add;

  Relayout(const memory::desc& plain_, const memory::desc& inner_) : plain(plain_), inner(inner_) {
    if (same()) return;
    in.emplace(dnnl::reorder::primitive_desc(onednn_engine(), plain, onednn_engine(), inner));
    out.emplace(dnnl::reorder::primitive_desc(onednn_engine(), inner, onednn_engine(), plain));
    dnnl::post_ops po;
    po.append_sum(1.0f);
    dnnl::primitive_attr attr;
    attr.set_post_ops(po);
    out_add.emplace(dnnl::reorder::primitive_desc(onednn_engine(), inner, onednn_engine(), plain, attr));
  }
  bool same() const { return plain == inner; }

  // The tensor in the primitive's layout: `data` itself, or a copy in `buf` (inner.get_size() bytes).
  memory to_inner(const void* data, void* buf) const {
    memory user(plain, onednn_engine(), const_cast<void*>(data));
    if (same()) return user;
    memory m(inner, onednn_engine(), buf);
    in->execute(onednn_stream(), user, m);
    return m;
  }
  // Writes (or adds, `add`) the primitive's result `m`, in its layout, to the plain tensor `data`.
  void to_plain(const memory& m, void* data, bool add) const {
    memory user(plain, onednn_engine(), data);
    if (same() && !add) return;  // the primitive wrote `data` itself
    if (same()) {  // a plain result to add: no reorder was built
      float* d = static_cast<float*>(data);
      const float* s = static_cast<const float*>(m.get_data_handle());
      const size_t n = plain.get_size() / sizeof(float);
      for (size_t i = 0; i < n; ++i) d[i] += s[i];
      return;
    }
    memory from = m;  // execute() takes its arguments by non-const reference
    (add ? out_add : out)->execute(onednn_stream(), from, user);
  }
};

struct Forward {
  dnnl::convolution_forward::primitive_desc pd;
  dnnl::convolution_forward prim;
  Relayout src, weights, dst;
  explicit Forward(const dnnl::convolution_forward::primitive_desc& p, const memory::desc& x, const memory::desc& w,
                   const memory::desc& y)
      : pd(p), prim(p), src(x, p.src_desc()), weights(w, p.weights_desc()), dst(y, p.dst_desc()) {}
};

struct BackwardData {
  dnnl::convolution_backward_data prim;
  Relayout diff_dst, weights, diff_src;
  BackwardData(const dnnl::convolution_backward_data::primitive_desc& p, const memory::desc& x, const memory::desc& w,
               const memory::desc& y)
      : prim(p), diff_dst(y, p.diff_dst_desc()), weights(w, p.weights_desc()), diff_src(x, p.diff_src_desc()) {}
};

struct BackwardWeights {
  dnnl::convolution_backward_weights prim;
  Relayout src, diff_dst, diff_weights;
  memory::desc diff_bias;
  BackwardWeights(const dnnl::convolution_backward_weights::primitive_desc& p, const memory::desc& x,
                  const memory::desc& w, const memory::desc& y)
      : prim(p), src(x, p.src_desc()), diff_dst(y, p.diff_dst_desc()), diff_weights(w, p.diff_weights_desc()),
        diff_bias(p.diff_bias_desc()) {}
};

struct Primitives {
  memory::desc x, w, b, y;  // the plain layouts: NCHW, OIHW, (O), NCHW
  memory::dims strides, padding;
  Forward fwd;
  std::unique_ptr<BackwardData> bwd_data;
  std::unique_ptr<BackwardWeights> bwd_weights;
};

memory::desc any(const memory::dims& d) { return memory::desc(d, f32, tag::any); }

std::unique_ptr<Primitives> build(const Key& k) {
  const Conv2dGeometry g{k.C, k.H, k.W, k.kh, k.kw, k.stride, k.pad};
  const memory::desc x({k.B, k.C, k.H, k.W}, f32, tag::nchw), w({k.O, k.C, k.kh, k.kw}, f32, tag::oihw),
      b = k.bias ? memory::desc({k.O}, f32, tag::x) : memory::desc(), y({k.B, k.O, g.Ho(), g.Wo()}, f32, tag::nchw);
  const memory::dims strides{k.stride, k.stride}, padding{k.pad, k.pad};
  const auto desc = k.bias ? dnnl::convolution_forward::desc(dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_direct,
                                                             any(x.dims()), any(w.dims()), b, any(y.dims()), strides, padding, padding)
                           : dnnl::convolution_forward::desc(dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_direct,
                                                             any(x.dims()), any(w.dims()), any(y.dims()), strides, padding, padding);
  const dnnl::convolution_forward::primitive_desc pd(desc, onednn_engine());
  return std::unique_ptr<Primitives>(new Primitives{x, w, b, y, strides, padding, Forward(pd, x, w, y), nullptr, nullptr});
}

// The cached primitive set of a geometry (built on first use); with `backward`, its backward
// primitives too.
Primitives& primitives(const Key& k, bool backward) {
  static std::mutex mu;
  static std::map<Key, std::unique_ptr<Primitives>> cache;
  std::lock_guard<std::mutex> lock(mu);
  auto& p = cache[k];
  if (!p) p = build(k);
  if (backward && !p->bwd_data) {
    const dnnl::convolution_backward_data::desc dd(dnnl::algorithm::convolution_direct, any(p->x.dims()), any(p->w.dims()),
                                                   any(p->y.dims()), p->strides, p->padding, p->padding);
    p->bwd_data = std::make_unique<BackwardData>(
        dnnl::convolution_backward_data::primitive_desc(dd, onednn_engine(), p->fwd.pd), p->x, p->w, p->y);
    const auto wd = k.bias ? dnnl::convolution_backward_weights::desc(dnnl::algorithm::convolution_direct, any(p->x.dims()),
                                                                      any(p->w.dims()), p->b, any(p->y.dims()), p->strides,
                                                                      p->padding, p->padding)
                           : dnnl::convolution_backward_weights::desc(dnnl::algorithm::convolution_direct, any(p->x.dims()),
                                                                      any(p->w.dims()), any(p->y.dims()), p->strides,
                                                                      p->padding, p->padding);
    p->bwd_weights = std::make_unique<BackwardWeights>(
        dnnl::convolution_backward_weights::primitive_desc(wd, onednn_engine(), p->fwd.pd), p->x, p->w, p->y);
  }
  return *p;
}

// Room for a tensor in a primitive's layout (none when it is the caller's own).
Scratch room(const Relayout& r) { return Scratch(r.same() ? 0 : r.inner.get_size()); }

}  // namespace

bool conv2d_direct_applies(const Conv2dGeometry& g) {
  // CORNERSTONE_CONV=im2col or =direct forces one path where both apply (bench/conv.py compares them).
  static const int forced = [] {
    const char* e = std::getenv("CORNERSTONE_CONV");
    return e ? (std::string(e) == "direct" ? 1 : std::string(e) == "im2col" ? 0 : -1) : -1;
  }();
  if (g.pointwise()) return false;
  if (forced >= 0) return forced == 1;
  // oneDNN's direct kernels block channels by 16 and loop over output pixels: for the 1- and
  // 3-channel stems, the patch embeddings and 1x1 output maps (a ResNet's last stage at 32 x 32
  // input) im2col + GEMM is as fast or faster (bench/conv.py), and 1x1 convolutions need no im2col.
  return g.C >= 16 && g.Ho() * g.Wo() >= 4;
}

void conv2d_direct_forward(const float* x, const float* w, const float* b, int64_t B, int64_t O, const Conv2dGeometry& g,
                           float* y) {
  Primitives& p = primitives({B, g.C, g.H, g.W, O, g.kh, g.kw, g.stride, g.pad, b != nullptr}, false);
  Forward& f = p.fwd;
  Scratch xs = room(f.src), ws = room(f.weights), ys = room(f.dst);
  const memory xm = f.src.to_inner(x, xs.as<void>()), wm = f.weights.to_inner(w, ws.as<void>());
  const memory ym = f.dst.same() ? memory(f.dst.plain, onednn_engine(), y) : memory(f.dst.inner, onednn_engine(), ys.as<void>());
  std::unordered_map<int, memory> args{{DNNL_ARG_SRC, xm}, {DNNL_ARG_WEIGHTS, wm}, {DNNL_ARG_DST, ym}};
  if (b) args.emplace(DNNL_ARG_BIAS, memory(p.b, onednn_engine(), const_cast<float*>(b)));
  f.prim.execute(onednn_stream(), args);
  f.dst.to_plain(ym, y, false);
  onednn_stream().wait();
}

void conv2d_direct_backward(const float* dy, const float* x, const float* w, int64_t B, int64_t O, const Conv2dGeometry& g,
                            float* dx, bool accumulate, float* dw, float* db) {
  Primitives& p = primitives({B, g.C, g.H, g.W, O, g.kh, g.kw, g.stride, g.pad, db != nullptr}, true);
  BackwardData& d = *p.bwd_data;
  BackwardWeights& bw = *p.bwd_weights;
  // dy in the backward-data primitive's layout, reordered once: the weight gradient reuses it when
  // its primitive wants the same layout (the usual case).
  const bool shared = bw.diff_dst.inner == d.diff_dst.inner;
  Scratch dys = room(d.diff_dst);
  const memory dym = dx || shared ? d.diff_dst.to_inner(dy, dys.as<void>()) : memory();
  if (dx) {
    const bool direct = d.diff_src.same() && !accumulate;  // the primitive writes dx itself
    Scratch ws = room(d.weights), dxs(direct ? 0 : d.diff_src.inner.get_size());
    const memory wm = d.weights.to_inner(w, ws.as<void>());
    const memory dxm = direct ? memory(d.diff_src.plain, onednn_engine(), dx) : memory(d.diff_src.inner, onednn_engine(), dxs.as<void>());
    d.prim.execute(onednn_stream(), {{DNNL_ARG_DIFF_DST, dym}, {DNNL_ARG_WEIGHTS, wm}, {DNNL_ARG_DIFF_SRC, dxm}});
    d.diff_src.to_plain(dxm, dx, accumulate);
  }
  if (dw || db) {
    // oneDNN writes the weight (and bias) gradient; both are added into the caller's.
    Scratch xs = room(bw.src), dys_w(shared || bw.diff_dst.same() ? 0 : bw.diff_dst.inner.get_size()), dws(bw.diff_weights.inner.get_size()),
        dbs(db ? bw.diff_bias.get_size() : 0);
    const memory xm = bw.src.to_inner(x, xs.as<void>()), dyw = shared ? dym : bw.diff_dst.to_inner(dy, dys_w.as<void>());
    const memory dwm(bw.diff_weights.inner, onednn_engine(), dws.as<void>());
    std::unordered_map<int, memory> args{{DNNL_ARG_SRC, xm}, {DNNL_ARG_DIFF_DST, dyw}, {DNNL_ARG_DIFF_WEIGHTS, dwm}};
    if (db) args.emplace(DNNL_ARG_DIFF_BIAS, memory(bw.diff_bias, onednn_engine(), dbs.as<void>()));
    bw.prim.execute(onednn_stream(), args);
    if (dw) bw.diff_weights.to_plain(dwm, dw, true);
    onednn_stream().wait();
    if (db)
      for (int64_t o = 0; o < O; ++o) db[o] += dbs.as<float>()[o];
  }
  onednn_stream().wait();
}

}  // namespace cornerstone::kernels
