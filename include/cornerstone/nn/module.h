// Module: a named tree of parameters, the unit models are built from.
//
// A module registers its parameters and child modules under stable names; `named_parameters()`
// walks the tree and yields "blocks.3.attn.qkv.weight"-style names, which checkpoints, optimizers
// and weight converters key on. Parameters are leaf tensors with requires_grad set; a module's
// members and its registry hold the same tensor handles, so loading weights in place
// (`param.copy_from(loaded)`) is seen everywhere.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "cornerstone/core/tensor.h"

namespace cornerstone::nn {

class Module {
 public:
  Module() = default;
  virtual ~Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  // In registration order, depth first, names joined with '.'.
  std::vector<std::pair<std::string, Tensor>> named_parameters() const;
  std::vector<Tensor> parameters() const;
  // The parameter with this full name; throws ValueError listing close names when absent.
  Tensor parameter(const std::string& name) const;
  int64_t num_parameters() const;
  // Parameters that require grad (not frozen), with their names; what an optimizer should get.
  std::vector<std::pair<std::string, Tensor>> trainable_parameters() const;
  int64_t num_trainable_parameters() const;
  // Freezes (or unfreezes) every parameter of this module and its children.
  void set_requires_grad(bool on);
  void zero_grad();

  // Training mode enables dropout; recursive.
  void train(bool on = true);
  void eval() { train(false); }
  bool training() const { return training_; }

 protected:
  // Registers `value` as a parameter (marks it requires_grad) and returns it.
  Tensor register_parameter(const std::string& name, Tensor value);
  template <typename M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> child) {
    children_.emplace_back(name, child);
    return child;
  }
  // Removes a child registered under `name` (no-op when absent).
  void unregister_module(const std::string& name);
  // Removes a parameter registered under `name` (no-op when absent).
  void unregister_parameter(const std::string& name);
  // Puts `value` in the place of the parameter `name` (its position in the order kept, requires
  // grad as the old one); throws when there is none.
  Tensor replace_parameter(const std::string& name, Tensor value);

 private:
  void collect(const std::string& prefix, std::vector<std::pair<std::string, Tensor>>& out) const;
  std::vector<std::pair<std::string, Tensor>> params_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
  bool training_ = true;
};

}  // namespace cornerstone::nn
