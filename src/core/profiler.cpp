#include "cornerstone/core/profiler.h"

#include <algorithm>
#include <cstdlib>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace cornerstone::profiler {

namespace {
struct Entry {
  double seconds = 0;
  long calls = 0;
};
std::mutex g_mu;
std::map<std::string, Entry>& table() {
  static std::map<std::string, Entry> t;
  return t;
}
bool& flag() {
  static bool on = [] {
    const char* e = std::getenv("CORNERSTONE_PROFILE");
    return e && *e && std::string(e) != "0";
  }();
  return on;
}
}  // namespace

bool enabled() { return flag(); }
void enable(bool on) { flag() = on; }

void add(const char* name, double seconds) {
  std::lock_guard<std::mutex> lock(g_mu);
  Entry& e = table()[name];
  e.seconds += seconds;
  ++e.calls;
}

void reset() {
  std::lock_guard<std::mutex> lock(g_mu);
  table().clear();
}

void report(std::FILE* out) {
  std::lock_guard<std::mutex> lock(g_mu);
  std::vector<std::pair<std::string, Entry>> rows(table().begin(), table().end());
  std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a.second.seconds > b.second.seconds; });
  double total = 0;
  for (const auto& [n, e] : rows) total += e.seconds;
  std::fprintf(out, "%-36s %10s %8s %10s %6s\n", "op", "total s", "calls", "ms/call", "share");
  for (const auto& [n, e] : rows)
    std::fprintf(out, "%-36s %10.3f %8ld %10.3f %5.1f%%\n", n.c_str(), e.seconds, e.calls, 1e3 * e.seconds / static_cast<double>(e.calls),
                 100 * e.seconds / std::max(total, 1e-12));
}

}  // namespace cornerstone::profiler
