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
  // Buckets from the last parameter back (the backward pass completes the last layers first):
  // whole parameters while they fit, a larger one in pieces.
  const int64_t W = group_.size(), rank = group_.rank(), B = static_cast<int64_t>(std::max<size_t>(1, bucket_floats));
  auto add = [&](int64_t begin, int64_t end, size_t first, size_t last) {
    Bucket b{begin, end, first, last, {}};
    if (mode_ == Mode::ReduceScatter)
      for (int64_t r = 0; r < W; ++r)
        b.counts.push_back(std::max<int64_t>(0, std::min(end, range_begin(total, r + 1, W)) - std::max(begin, range_begin(total, r, W))));
    buckets_.push_back(std::move(b));
  };
  for (size_t k = P; k > 0;) {
    if (params_[k - 1].numel() > B) {
      for (int64_t hi = offset_[k]; hi > offset_[k - 1]; hi -= B) add(std::max(offset_[k - 1], hi - B), hi, k - 1, k);
      --k;
      continue;
    }
    size_t lo = k - 1;
    while (lo > 0 && offset_[k] - offset_[lo - 1] <= B) --lo;
    add(offset_[lo], offset_[k], lo, k);
    k = lo;
  }
  buckets_of_.assign(P, {});
  for (size_t b = 0; b < buckets_.size(); ++b)
    for (size_t k = buckets_[b].first; k < buckets_[b].last; ++k) buckets_of_[k].push_back(b);
  unstarted_.assign(P, 0);
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
  for (size_t k = 0; k < params_.size(); ++k) unstarted_[k] = buckets_of_[k].size();
  if (first) {
    std::fill(reached_.begin(), reached_.end(), 0);
    if (mode_ == Mode::ReduceScatter) shard_.values.zero();
  }
}

void GradientBuckets::leaf_ready(autograd::AutogradMeta& leaf) {
  const auto it = index_.find(&leaf);
  if (it == index_.end() || seen_[it->second]) return;  // not a parameter of ours (a checkpointed segment's input)
  seen_[it->second] = 1;
  for (const size_t b : buckets_of_[it->second]) ++ready_[b];
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
  // At most kMaxInFlight buckets' buffers at once: beyond that the oldest is waited for, so that
  // copies of the gradients (and under ZeRO-2 the whole gradients) do not pile up while a slower
  // process catches up.
  while (in_flight_.size() >= kMaxInFlight) {
    in_flight_.front().request.wait();
    finish(in_flight_.front());
    in_flight_.pop_front();
  }
  const Bucket& B = buckets_[b];
  const int64_t n = B.end - B.begin;
  for (size_t k = B.first; k < B.last; ++k) {
    Tensor g = params_[k].grad();
    if (g.defined()) {
      if (g.dtype() != DType::F32 || !g.is_contiguous()) throw Error("data parallel: gradients must be contiguous fp32");
      reached_[k] = 1;
    } else if (mode_ == Mode::AllReduce) {  // zeros, summed like the rest (reduce() drops it again if no process reached it)
      Tensor(params_[k]).set_grad(Tensor::zeros(params_[k].shape()));
    }
  }
  InFlight f{b, {}, {}, nullptr, false, {}};
  if (const Tensor g = params_[B.first].grad(); B.last - B.first == 1 && g.defined()) {
    f.held = g;  // within one parameter: its own gradient, in place
    f.data = g.data<float>() + (B.begin - offset_[B.first]);
    f.in_place = true;
  } else {
    f.held = Tensor::empty({n});
    f.data = f.held.data<float>();
    for (size_t k = B.first; k < B.last; ++k) {
      const int64_t lo = std::max(B.begin, offset_[k]), hi = std::min(B.end, offset_[k + 1]);
      float* dst = f.data + (lo - B.begin);
      if (const Tensor gk = params_[k].grad(); gk.defined())
        std::memcpy(dst, gk.data<float>() + (lo - offset_[k]), static_cast<size_t>(hi - lo) * sizeof(float));
      else
        std::memset(dst, 0, static_cast<size_t>(hi - lo) * sizeof(float));
    }
  }
  if (mode_ == Mode::AllReduce) {
    f.request = group_.start_all_reduce_sum(f.data, static_cast<size_t>(n));
  } else {
    const int64_t mine = B.counts[static_cast<size_t>(group_.rank())];
    static float nothing = 0;  // the receive buffer of a process owning none of the bucket
    if (mine > 0) f.recv = Tensor::empty({mine});
    f.request = group_.start_reduce_scatter_sum(f.data, mine > 0 ? f.recv.data<float>() : &nothing, B.counts);
    // A parameter whose every bucket has started is dropped: this process keeps its range of the sums only.
    for (size_t k = B.first; k < B.last; ++k)
      if (--unstarted_[k] == 0) Tensor(params_[k]).zero_grad();
  }
  in_flight_.push_back(std::move(f));
}

void GradientBuckets::finish(InFlight& f) {
  const Bucket& B = buckets_[f.bucket];
  if (mode_ == Mode::AllReduce) {
    const float inv = 1.0f / static_cast<float>(group_.size());
    if (f.in_place) {
      kernels::scale(f.data, B.end - B.begin, inv);  // the sums are already in the parameter's gradient
    } else {
      for (size_t k = B.first; k < B.last; ++k) {
        const int64_t lo = std::max(B.begin, offset_[k]), hi = std::min(B.end, offset_[k + 1]);
        const float* src = f.data + (lo - B.begin);
        float* dst = params_[k].grad().data<float>() + (lo - offset_[k]);
        for (int64_t e = 0; e < hi - lo; ++e) dst[e] = src[e] * inv;
      }
    }
  } else if (f.recv.defined()) {
    float* dst = shard_.values.data<float>() + (std::max(B.begin, shard_.begin) - shard_.begin);
    kernels::add(dst, f.recv.data<float>(), f.recv.numel(), dst);
  }
  f.held = Tensor(), f.recv = Tensor(), f.data = nullptr, f.in_place = false;
}

}  // namespace cornerstone::train
