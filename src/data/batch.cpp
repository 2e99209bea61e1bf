#include "cornerstone/data/batch.h"

#include <algorithm>

#include "cornerstone/core/error.h"

namespace cornerstone::data {

namespace {
const Tensor kAbsent;
}

Batch& Batch::set(std::string_view name, Tensor value) {
  for (auto& [n, t] : items_)
    if (n == name) {
      t = std::move(value);
      return *this;
    }
  items_.emplace_back(std::string(name), std::move(value));
  return *this;
}

bool Batch::has(std::string_view name) const {
  return std::any_of(items_.begin(), items_.end(), [&](const auto& it) { return it.first == name && it.second.defined(); });
}

const Tensor& Batch::operator[](std::string_view name) const {
  for (const auto& [n, t] : items_)
    if (n == name) return t;
  return kAbsent;
}

const Tensor& Batch::get(std::string_view name, std::string_view who) const {
  const Tensor& t = (*this)[name];
  if (t.defined()) return t;
  std::string held;
  for (const auto& [n, v] : items_) held += (held.empty() ? "" : ", ") + n;
  throw ValueError(std::string(who) + ": the batch has no '" + std::string(name) + "' (it has: " + (held.empty() ? "nothing" : held) +
                   ")");
}

void Batch::erase(std::string_view name) {
  std::erase_if(items_, [&](const auto& it) { return it.first == name; });
}

int64_t Batch::rows() const {
  for (std::string_view key : {batch_keys::ids, batch_keys::pixels})
    if (const Tensor& t = (*this)[key]; t.defined() && t.ndim() > 0) return t.size(0);
  for (const auto& [n, t] : items_)
    if (t.defined() && t.ndim() > 0) return t.size(0);
  return 0;
}

std::vector<std::string> Batch::names() const {
  std::vector<std::string> out;
  for (const auto& [n, t] : items_) out.push_back(n);
  return out;
}

Batch Batch::sub(std::string_view prefix) const {
  Batch out;
  for (const auto& [n, t] : items_)
    if (n.size() > prefix.size() && std::string_view(n).substr(0, prefix.size()) == prefix) out.set(n.substr(prefix.size()), t);
  return out;
}

}  // namespace cornerstone::data
