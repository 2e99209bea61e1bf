#include "cornerstone/train/optimizer.h"

#include <algorithm>
#include <cmath>

#include "cornerstone/core/error.h"
#include "cornerstone/dist/process_group.h"
#include "cornerstone/kernels/elementwise.h"
#include "cornerstone/kernels/optim.h"

namespace cornerstone::train {

AdamW::AdamW(std::vector<std::pair<std::string, Tensor>> params, const AdamWConfig& config) : config_(config) {
  for (auto& [name, p] : params) {
    check_dtype(p, DType::F32, "AdamW", name.c_str());
    check_contiguous(p, "AdamW", name.c_str());
    Slot s{name, p, Tensor::zeros(p.shape()), Tensor::zeros(p.shape()), p.ndim() >= 2};
    s.offset = total_, s.lo = 0, s.hi = p.numel();
    total_ += p.numel();
    slots_.push_back(std::move(s));
  }
  end_ = total_;
}

void AdamW::partition(int64_t rank, int64_t world) {
  if (world < 1 || rank < 0 || rank >= world) throw ValueError("AdamW::partition: rank " + std::to_string(rank) + " of " + std::to_string(world));
  world_ = world;
  begin_ = range_begin(total_, rank, world), end_ = range_begin(total_, rank + 1, world);
  for (Slot& s : slots_) {
    s.lo = std::clamp(begin_ - s.offset, int64_t{0}, s.param.numel());
    s.hi = std::clamp(end_ - s.offset, int64_t{0}, s.param.numel());
    const int64_t n = std::max<int64_t>(0, s.hi - s.lo);
    s.exp_avg = n > 0 ? Tensor::zeros({n}) : Tensor();
    s.exp_avg_sq = n > 0 ? Tensor::zeros({n}) : Tensor();
  }
}

int64_t AdamW::state_elements() const { return 2 * (end_ - begin_); }

void AdamW::step(float lr, const GradientShard* shard) {
  if (shard && (shard->begin != begin_ || shard->end != end_ || shard->reached.size() != slots_.size()))
    throw Error("AdamW: the gradient shard [" + std::to_string(shard->begin) + ", " + std::to_string(shard->end) +
                ") is not this process's range of the moments [" + std::to_string(begin_) + ", " + std::to_string(end_) + ")");
  ++step_;
  for (size_t k = 0; k < slots_.size(); ++k) {
    Slot& s = slots_[k];
    if (s.hi <= s.lo) continue;
    const float* g = nullptr;
    if (shard) {
      if (!shard->reached[k]) continue;
      g = shard->values.data<float>() + (s.offset + s.lo - begin_);
    } else {
      const Tensor gt = s.param.grad();
      if (!gt.defined()) continue;
      g = gt.data<float>() + s.lo;
    }
    kernels::AdamWHyper h;
    h.lr = lr, h.beta1 = config_.beta1, h.beta2 = config_.beta2, h.eps = config_.eps;
    h.weight_decay = s.decay ? config_.weight_decay : 0.0f;
    h.step = step_;
    kernels::adamw_step(s.param.data<float>() + s.lo, g, s.exp_avg.data<float>(), s.exp_avg_sq.data<float>(),
                        s.hi - s.lo, h);
  }
}

void AdamW::gather_parameters() {
  if (!partitioned()) return;
  // Chunk by chunk of the flat elements, so that the buffer is 32 MB rather than a copy of the
  // model: in chunk [a, b) every process's part follows the previous one's.
  constexpr int64_t kChunk = int64_t{8} << 20;
  flat_.resize(static_cast<size_t>(std::min(kChunk, total_)));  // allocated by the first step only
  std::vector<int64_t> counts(static_cast<size_t>(world_));
  for (int64_t a = 0; a < total_; a += kChunk) {
    const int64_t b = std::min(total_, a + kChunk);
    for (int64_t r = 0; r < world_; ++r)
      counts[static_cast<size_t>(r)] = std::max<int64_t>(0, std::min(b, range_begin(total_, r + 1, world_)) - std::max(a, range_begin(total_, r, world_)));
    // This process's part of the chunk, then every part, then back into the parameters.
    for (const Slot& s : slots_) {
      const int64_t lo = std::max({a, s.offset + s.lo}), hi = std::min(b, s.offset + s.hi);
      if (hi > lo) std::copy(s.param.data<float>() + (lo - s.offset), s.param.data<float>() + (hi - s.offset), flat_.data() + (lo - a));
    }
    dist::ProcessGroup::world().all_gather(flat_.data(), counts);
    for (Slot& s : slots_) {
      const int64_t lo = std::max(a, s.offset), hi = std::min(b, s.offset + s.param.numel());
      if (hi > lo) std::copy(flat_.data() + (lo - a), flat_.data() + (hi - a), s.param.data<float>() + (lo - s.offset));
    }
  }
}

void AdamW::zero_grad() {
  for (Slot& s : slots_) s.param.zero_grad();
}

std::vector<std::pair<std::string, Tensor>> AdamW::state() const {
  std::vector<std::pair<std::string, Tensor>> out;
  const std::vector<io::TensorLayout> layout = state_layout();
  for (size_t i = 0; i < layout.size(); ++i)
    if (Tensor t = state_tensor(i); t.defined()) out.emplace_back(layout[i].name, std::move(t));
  return out;
}

std::vector<io::TensorLayout> AdamW::state_layout() const {
  std::vector<io::TensorLayout> out;
  for (const Slot& s : slots_) {
    out.push_back({s.name + ".exp_avg", DType::F32, s.param.shape()});
    out.push_back({s.name + ".exp_avg_sq", DType::F32, s.param.shape()});
  }
  return out;
}

Tensor AdamW::state_tensor(size_t i) const {
  if (i >= 2 * slots_.size()) throw ValueError("AdamW::state_tensor: " + std::to_string(i) + " of " + std::to_string(2 * slots_.size()));
  const Slot& s = slots_[i / 2];
  const Tensor& mine = i % 2 == 0 ? s.exp_avg : s.exp_avg_sq;
  if (!partitioned()) return mine;
  // Partitioned: each process holds [lo, hi) of this parameter's elements (possibly none), and
  // process 0 gathers them in order into the whole moment.
  dist::ProcessGroup& g = dist::ProcessGroup::world();
  const bool root = g.rank() == 0;
  std::vector<int64_t> counts(static_cast<size_t>(world_));
  for (int64_t r = 0; r < world_; ++r)
    counts[static_cast<size_t>(r)] = std::max<int64_t>(0, std::min(s.offset + s.param.numel(), range_begin(total_, r + 1, world_)) -
                                                              std::max(s.offset, range_begin(total_, r, world_)));
  static const float nothing = 0;  // the segment of a process holding none of this parameter
  const float* segment = s.hi > s.lo ? mine.data<float>() : &nothing;
  Tensor whole = root ? Tensor::empty(s.param.shape()) : Tensor();
  g.gather(segment, root ? whole.data<float>() : nullptr, counts, 0);
  return whole;
}

void AdamW::load_state(const std::vector<std::pair<std::string, Tensor>>& state, int64_t step) {
  auto find = [&](const std::string& name) -> const Tensor& {
    for (const auto& [n, t] : state)
      if (n == name) return t;
    throw FormatError("optimizer state: missing '" + name + "'");
  };
  for (Slot& s : slots_) {
    for (Tensor* dst : {&s.exp_avg, &s.exp_avg_sq}) {
      const std::string name = s.name + (dst == &s.exp_avg ? ".exp_avg" : ".exp_avg_sq");
      const Tensor& src = find(name);
      if (src.shape() != s.param.shape())
        throw FormatError("optimizer state: '" + name + "' has shape " + src.shape().str() + ", expected " +
                          s.param.shape().str());
      if (!partitioned()) {
        dst->copy_from(src);
      } else if (s.hi > s.lo) {  // this process's part
        check_dtype(src, DType::F32, "optimizer state", name.c_str());
        const Tensor c = src.contiguous();
        std::copy(c.data<float>() + s.lo, c.data<float>() + s.hi, dst->data<float>());
      }
    }
  }
  step_ = step;
}

double clip_grad_norm(const std::vector<Tensor>& params, double max_norm, ParameterShards* shards) {
  double total = 0;
  if (shards) {
    total = shards->squared_grad_norm(params);
  } else {
    for (const Tensor& p : params) {
      const Tensor g = p.grad();
      if (g.defined()) total += kernels::sum_squares(g.data<float>(), g.numel());
    }
  }
  const double norm = std::sqrt(total);
  if (max_norm > 0 && norm > max_norm) {
    const float s = static_cast<float>(max_norm / (norm + 1e-6));
    for (const Tensor& p : params) {
      const Tensor g = p.grad();
      if (g.defined()) kernels::scale(g.data<float>(), g.numel(), s);
    }
  }
  return norm;
}

}  // namespace cornerstone::train
