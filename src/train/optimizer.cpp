#include "cornerstone/train/optimizer.h"

#include <cmath>

#include "cornerstone/core/error.h"
#include "cornerstone/kernels/elementwise.h"
#include "cornerstone/kernels/optim.h"

namespace cornerstone::train {

AdamW::AdamW(std::vector<std::pair<std::string, Tensor>> params, const AdamWConfig& config) : config_(config) {
  for (auto& [name, p] : params) {
    check_dtype(p, DType::F32, "AdamW", name.c_str());
    check_contiguous(p, "AdamW", name.c_str());
    slots_.push_back({name, p, Tensor::zeros(p.shape()), Tensor::zeros(p.shape()), p.ndim() >= 2});
  }
}

void AdamW::step(float lr) {
  ++step_;
  for (Slot& s : slots_) {
    const Tensor g = s.param.grad();
    if (!g.defined()) continue;
    kernels::AdamWHyper h;
    h.lr = lr, h.beta1 = config_.beta1, h.beta2 = config_.beta2, h.eps = config_.eps;
    h.weight_decay = s.decay ? config_.weight_decay : 0.0f;
    h.step = step_;
    kernels::adamw_step(s.param.data<float>(), g.data<float>(), s.exp_avg.data<float>(), s.exp_avg_sq.data<float>(),
                        s.param.numel(), h);
  }
}

void AdamW::zero_grad() {
  for (Slot& s : slots_) s.param.zero_grad();
}

std::vector<std::pair<std::string, Tensor>> AdamW::state() const {
  std::vector<std::pair<std::string, Tensor>> out;
  for (const Slot& s : slots_) {
    out.emplace_back(s.name + ".exp_avg", s.exp_avg);
    out.emplace_back(s.name + ".exp_avg_sq", s.exp_avg_sq);
  }
  return out;
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
      if (src.shape() != dst->shape())
        throw FormatError("optimizer state: '" + name + "' has shape " + src.shape().str() + ", expected " +
                          dst->shape().str());
      dst->copy_from(src);
    }
  }
  step_ = step;
}

double clip_grad_norm(const std::vector<Tensor>& params, double max_norm) {
  double total = 0;
  for (const Tensor& p : params) {
    const Tensor g = p.grad();
    if (g.defined()) total += kernels::sum_squares(g.data<float>(), g.numel());
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
