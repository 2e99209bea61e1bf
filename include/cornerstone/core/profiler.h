// A wall-clock profile by op name, off unless CORNERSTONE_PROFILE=1 (or profiler::enable()).
//
//   { profiler::Scope s("linear"); ... }        // forward time of an op
//   profiler::report(stderr);                   // table sorted by total time
//
// The autograd engine times each node's backward under "<name> (backward)".
#pragma once

#include <chrono>
#include <cstdio>

namespace cornerstone::profiler {

bool enabled();
void enable(bool on = true);
void add(const char* name, double seconds);
void report(std::FILE* out);
void reset();

class Scope {
 public:
  explicit Scope(const char* name) : name_(enabled() ? name : nullptr) {
    if (name_) t0_ = std::chrono::steady_clock::now();
  }
  ~Scope() {
    if (name_) add(name_, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count());
  }
  Scope(const Scope&) = delete;
  Scope& operator=(const Scope&) = delete;

 private:
  const char* name_;
  std::chrono::steady_clock::time_point t0_;
};

}  // namespace cornerstone::profiler
