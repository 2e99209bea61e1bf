#include "cornerstone/nn/module.h"

#include "cornerstone/core/error.h"

namespace cornerstone::nn {

Tensor Module::register_parameter(const std::string& name, Tensor value) {
  check_defined(value, "register_parameter", name.c_str());
  value.requires_grad_();
  params_.emplace_back(name, value);
  return value;
}

void Module::collect(const std::string& prefix, std::vector<std::pair<std::string, Tensor>>& out) const {
  for (const auto& [name, t] : params_) out.emplace_back(prefix + name, t);
  for (const auto& [name, child] : children_) child->collect(prefix + name + ".", out);
}

std::vector<std::pair<std::string, Tensor>> Module::named_parameters() const {
  std::vector<std::pair<std::string, Tensor>> out;
  collect("", out);
  return out;
}

std::vector<Tensor> Module::parameters() const {
  std::vector<Tensor> out;
  for (auto& [name, t] : named_parameters()) out.push_back(t);
  return out;
}

Tensor Module::parameter(const std::string& name) const {
  const auto all = named_parameters();
  for (const auto& [n, t] : all)
    if (n == name) return t;
  std::string hint;
  const auto dot = name.rfind('.');
  const std::string leaf = dot == std::string::npos ? name : name.substr(dot + 1);
  for (const auto& [n, t] : all)
    if (n.size() >= leaf.size() && n.compare(n.size() - leaf.size(), leaf.size(), leaf) == 0 && hint.size() < 200)
      hint += (hint.empty() ? "" : ", ") + n;
  throw ValueError("no parameter named '" + name + "'" + (hint.empty() ? "" : " (similar: " + hint + ")"));
}

int64_t Module::num_parameters() const {
  int64_t n = 0;
  for (const auto& [name, t] : named_parameters()) n += t.numel();
  return n;
}

std::vector<std::pair<std::string, Tensor>> Module::trainable_parameters() const {
  std::vector<std::pair<std::string, Tensor>> out;
  for (auto& [name, t] : named_parameters())
    if (t.requires_grad()) out.emplace_back(name, t);
  return out;
}

int64_t Module::num_trainable_parameters() const {
  int64_t n = 0;
  for (const auto& [name, t] : trainable_parameters()) n += t.numel();
  return n;
}

void Module::set_requires_grad(bool on) {
  for (auto& [name, t] : named_parameters()) t.requires_grad_(on);
}

void Module::unregister_module(const std::string& name) {
  std::erase_if(children_, [&](const auto& c) { return c.first == name; });
}

void Module::unregister_parameter(const std::string& name) {
  std::erase_if(params_, [&](const auto& p) { return p.first == name; });
}

Tensor Module::replace_parameter(const std::string& name, Tensor value) {
  check_defined(value, "replace_parameter", name.c_str());
  for (auto& [n, t] : params_)
    if (n == name) {
      value.requires_grad_(t.requires_grad());
      t = value;
      return value;
    }
  throw ValueError("replace_parameter: no parameter '" + name + "'");
}

void Module::zero_grad() {
  for (auto& [name, t] : named_parameters()) t.zero_grad();
}

void Module::train(bool on) {
  training_ = on;
  for (auto& [name, child] : children_) child->train(on);
}

}  // namespace cornerstone::nn
