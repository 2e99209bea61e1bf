// Gradient recording on or off for the current thread.
//
//   { NoGradGuard no_grad; logits = model.forward(ids); }  // inference: nothing is recorded
#pragma once

namespace cornerstone::autograd {

bool grad_enabled();
void set_grad_enabled(bool on);

class NoGradGuard {
 public:
  NoGradGuard() : prev_(grad_enabled()) { set_grad_enabled(false); }
  ~NoGradGuard() { set_grad_enabled(prev_); }
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool prev_;
};

}  // namespace cornerstone::autograd
