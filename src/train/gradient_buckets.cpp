#include "gradient_buckets.h"

#include <algorithm>
#include <chrono>
#include <cstring>

#include "cornerstone/core/error.h"
#include "cornerstone/core/profiler.h"
#include "cornerstone/kernels/elementwise.h"

namespace cornerstone::train {

namespace {

// Adds the wall time of a scope to a counter.
struct Clock {
  double& total;
  std::chrono::steady_clock::time_point t0 = std::chrono::steady_clock::now();
  ~Clock() { total += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(); }
};

const float* data_or_null(const Tensor& t) { return t.defined() ? t.data<float>() : nullptr; }

}  // namespace

GradientBuckets::GradientBuckets(const std::vector<Tensor>& params, Mode mode, size_t bucket_floats, dist::ProcessGroup& group)
    : params_(params), mode_(mode), group_(group) {
  const size_t P = params_.size();
  int64_t total = 0;
  for (size_t k = 0; k < P; ++k) {
    const Tensor& p = params_[k];
    if (p.dtype() != DType::F32 || !p.is_contiguous()) throw Error("data parallel: parameters must be contiguous fp32");
    if (!p.autograd_meta()) throw Error("data parallel: a parameter does not require grad");
    index_[p.autograd_meta().get()] = k;
    offset_.push_back(total);
    total += p.numel();
  }
  offset_.push_back(total);
  // Buckets from the last parameter back: the backward pass completes the last layers first.
  const int64_t W = group_.size(), rank = group_.rank();
  bucket_of_.resize(P);
  for (size_t hi = P; hi > 0;) {
    size_t lo = hi - 1;
    size_t n = static_cast<size_t>(params_[lo].numel());
    while (lo > 0 && n + static_cast<size_t>(params_[lo - 1].numel()) <= bucket_floats) n += static_cast<size_t>(params_[--lo].numel());
    Bucket b{lo, hi, offset_[lo], offset_[hi], {}};
    if (mode_ == Mode::ReduceScatter)
      for (int64_t r = 0; r < W; ++r)
        b.counts.push_back(std::max<int64_t>(0, std::min(b.end, range_begin(total, r + 1, W)) - std::max(b.begin, range_begin(total, r, W))));
    for (size_t k = lo; k < hi; ++k) bucket_of_[k] = buckets_.size();
    buckets_.push_back(std::move(b));
    hi = lo;
  }
  ready_.assign(buckets_.size(), 0);
  seen_.assign(P, 0);
  reached_.assign(P, 0);
  if (mode_ == Mode::ReduceScatter) {
    shard_.begin = range_begin(total, rank, W), shard_.end = range_begin(total, rank + 1, W);
    shard_.values = Tensor::zeros({std::max<int64_t>(1, shard_.end - shard_.begin)});
    shard_.reached.assign(P, 0);
  }
}

bool GradientBuckets::serves(const std::vector<Tensor>& params) const {
  if (params.size() != params_.size()) return false;
  for (size_t k = 0; k < params.size(); ++k)
    if (params[k].autograd_meta().get() != params_[k].autograd_meta().get() || params[k].numel() != params_[k].numel()) return false;
  return true;
}

void GradientBuckets::begin_pass(bool first) {
  if (!in_flight_.empty()) throw Error("data parallel: a backward pass began before the last one's gradients were reduced");
  reduced_ = false;
  next_ = 0;
  std::fill(ready_.begin(), ready_.end(), 0);
  std::fill(seen_.begin(), seen_.end(), 0);
  if (first) {
    std::fill(reached_.begin(), reached_.end(), 0);
    if (mode_ == Mode::ReduceScatter) shard_.values.zero();
  }
}

void GradientBuckets::leaf_ready(autograd::AutogradMeta& leaf) {
  const auto it = index_.find(&leaf);
  if (it == index_.end() || seen_[it->second]) return;  // not a parameter of ours (a checkpointed segment's input)
  seen_[it->second] = 1;
  ++ready_[bucket_of_[it->second]];
  Clock clock{seconds_};
  start_ready();
}

void GradientBuckets::start_ready() {
  while (next_ < buckets_.size() && ready_[next_] == buckets_[next_].last - buckets_[next_].first) start(next_++);
}

void GradientBuckets::node_done() {
  if (in_flight_.empty()) return;
  Clock clock{seconds_};
  while (!in_flight_.empty() && in_flight_.front().request.test()) {
    finish(in_flight_.front());
    in_flight_.pop_front();
  }
}

void GradientBuckets::backward_done() {
  profiler::Scope p("data parallel: finish the gradient buckets");
  Clock clock{seconds_};
  while (next_ < buckets_.size()) start(next_++);  // parameters this pass did not reach count as zeros
  for (InFlight& f : in_flight_) {
    f.request.wait();
    finish(f);
  }
  in_flight_.clear();
  reduced_ = true;
}

void GradientBuckets::start(size_t b) {
  const Bucket& B = buckets_[b];
  const int64_t n = B.end - B.begin;
  InFlight f{b, {}, {}, {}};
  const bool alone = B.last - B.first == 1;
  for (size_t k = B.first; k < B.last; ++k) {
    const Tensor g = params_[k].grad();
    if (!g.defined()) continue;
    if (g.dtype() != DType::F32 || !g.is_contiguous()) throw Error("data parallel: gradients must be contiguous fp32");
    reached_[k] = 1;
  }
  if (mode_ == Mode::AllReduce) {
    // Sums in place for a lone parameter, else in one buffer; an unreached gradient becomes zeros
    // (reduce() drops it again when no process reached it).
    for (size_t k = B.first; k < B.last; ++k)
      if (!params_[k].grad().defined()) Tensor(params_[k]).set_grad(Tensor::zeros(params_[k].shape()));
    if (alone) {
      f.send = params_[B.first].grad();
    } else {
      f.send = Tensor::empty({n});
      for (size_t k = B.first; k < B.last; ++k)
        std::memcpy(f.send.data<float>() + (offset_[k] - B.begin), params_[k].grad().data<float>(), static_cast<size_t>(params_[k].numel()) * sizeof(float));
    }
    f.request = group_.start_all_reduce_sum(f.send.data<float>(), static_cast<size_t>(n));
  } else {
    // The bucket's elements in flat order (which is the processes' order), then the whole
    // gradients go: this process keeps only its part of the sums.
    if (alone && params_[B.first].grad().defined()) {
      f.send = params_[B.first].grad();
    } else {
      f.send = Tensor::empty({n});
      for (size_t k = B.first; k < B.last; ++k) {
        float* dst = f.send.data<float>() + (offset_[k] - B.begin);
        const size_t m = static_cast<size_t>(params_[k].numel());
        if (const Tensor g = params_[k].grad(); g.defined())
          std::memcpy(dst, g.data<float>(), m * sizeof(float));
        else
          std::memset(dst, 0, m * sizeof(float));
      }
    }
    for (size_t k = B.first; k < B.last; ++k) Tensor(params_[k]).zero_grad();
    const int64_t mine = B.counts[static_cast<size_t>(group_.rank())];
    static float nothing = 0;  // the receive buffer of a process owning none of the bucket
    if (mine > 0) f.recv = Tensor::empty({mine});
    f.request = group_.start_reduce_scatter_sum(f.send.data<float>(), mine > 0 ? f.recv.data<float>() : &nothing, B.counts);
  }
  in_flight_.push_back(std::move(f));
}

void GradientBuckets::finish(InFlight& f) {
  const Bucket& B = buckets_[f.bucket];
  if (mode_ == Mode::AllReduce) {
    const float inv = 1.0f / static_cast<float>(group_.size());
    if (B.last - B.first == 1) {
      kernels::scale(f.send.data<float>(), f.send.numel(), inv);
    } else {
      for (size_t k = B.first; k < B.last; ++k) {
        const float* src = f.send.data<float>() + (offset_[k] - B.begin);
        float* dst = params_[k].grad().data<float>();
        for (int64_t e = 0; e < params_[k].numel(); ++e) dst[e] = src[e] * inv;
      }
    }
  } else if (const float* sums = data_or_null(f.recv)) {
    float* dst = shard_.values.data<float>() + (std::max(B.begin, shard_.begin) - shard_.begin);
    kernels::add(dst, sums, f.recv.numel(), dst);
  }
  f.send = Tensor(), f.recv = Tensor();
}

}  // namespace cornerstone::train
