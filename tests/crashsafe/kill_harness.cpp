#include "kill_harness.h"

#include <signal.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

namespace cornerstone::testing {

namespace fs = std::filesystem;

namespace {

bool is_temporary(const fs::path& relative) {
  for (const auto& part : relative) {
    const std::string p = part.string();
    if (!p.empty() && p[0] == '.' && p != "." && p != "..") return true;
    if (p.find(".tmp.") != std::string::npos || p.find(".partial-") != std::string::npos) return true;
  }
  return false;
}

std::string read_all(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Regular files under `root` (recursively): relative path -> (inode, size, mtime).
struct Entry {
  uint64_t inode = 0, size = 0;
  int64_t mtime_ns = 0;
  bool operator==(const Entry&) const = default;
};
std::map<std::string, Entry> listing(const fs::path& root, bool visible_only) {
  std::map<std::string, Entry> out;
  std::error_code ec;
  auto add = [&](const fs::path& p, const std::string& rel) {
    struct stat st {};
    if (::lstat(p.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return;
    if (visible_only && is_temporary(rel)) return;
    out[rel] = {static_cast<uint64_t>(st.st_ino), static_cast<uint64_t>(st.st_size),
                static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec};
  };
  if (fs::is_regular_file(root, ec)) {
    add(root, root.filename().string());
    return out;
  }
  fs::recursive_directory_iterator it(root, fs::directory_options::skip_permission_denied, ec), end;
  for (; !ec && it != end; it.increment(ec)) add(it->path(), fs::relative(it->path(), root, ec).string());
  return out;
}

}  // namespace

Snapshot snapshot(const std::string& path, const std::vector<std::string>& ignore) {
  Snapshot s;
  for (const auto& [rel, e] : listing(path, true)) {
    bool skip = false;
    for (const auto& i : ignore) skip |= rel == i;
    if (skip) continue;
    const fs::path p = fs::is_regular_file(path) ? fs::path(path) : fs::path(path) / rel;
    s[rel] = read_all(p);
  }
  return s;
}

std::string describe(const Snapshot& s) {
  if (s.empty()) return "(nothing)";
  std::string out;
  for (const auto& [name, bytes] : s) out += (out.empty() ? "" : ", ") + name + " (" + std::to_string(bytes.size()) + " B)";
  return out;
}

::testing::AssertionResult same(const Snapshot& actual, const Snapshot& expected) {
  if (actual == expected) return ::testing::AssertionSuccess();
  std::string differ;
  for (const auto& [name, bytes] : actual)
    if (expected.count(name) && expected.at(name) != bytes) differ += " " + name;
  return ::testing::AssertionFailure() << "files: " << describe(actual) << "\nexpected: " << describe(expected)
                                       << (differ.empty() ? "" : "\ncontents differ:" + differ);
}

::testing::AssertionResult same_bytes(const std::string& actual, const std::string& expected) {
  if (actual == expected) return ::testing::AssertionSuccess();
  size_t at = 0;
  while (at < actual.size() && at < expected.size() && actual[at] == expected[at]) ++at;
  return ::testing::AssertionFailure() << actual.size() << " bytes vs the expected " << expected.size() << ", first difference at byte "
                                       << at;
}

std::vector<std::string> temporaries(const std::string& folder) {
  std::vector<std::string> out;
  std::error_code ec;
  fs::recursive_directory_iterator it(folder, ec), end;
  for (; !ec && it != end; it.increment(ec)) {
    const fs::path rel = fs::relative(it->path(), folder, ec);
    if (is_temporary(rel)) out.push_back(rel.string());
  }
  return out;
}

namespace {

WritePhase time_once(const std::vector<std::string>& args, const std::string& folder) {
  const auto before = listing(folder, false);
  WritePhase w;
  SpawnedCli c = spawn_cli(args);
  bool seen = false;
  while (!c.exited()) {
    if (!seen) {
      for (const auto& [rel, e] : listing(folder, false))
        if (!before.count(rel)) {
          seen = true;
          w.begin = c.elapsed();
          break;
        }
    }
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  w.run = c.wait();
  w.end = w.run.seconds;
  if (!seen) w.begin = 0;
  return w;
}

}  // namespace

WritePhase time_write_phase(const std::vector<std::string>& args, const std::string& folder, const std::function<void()>& reset) {
  reset();
  WritePhase cold = time_once(args, folder);
  if (cold.run.exit_code != 0) return cold;
  reset();
  WritePhase warm = time_once(args, folder);
  return warm.run.exit_code != 0 || warm.end < cold.end ? warm : cold;
}

uint64_t kill_seed(uint64_t fallback) {
  const char* e = std::getenv("CORNERSTONE_KILL_SEED");
  return e && *e ? std::strtoull(e, nullptr, 10) : fallback;
}

std::vector<KillPoint> kill_points(const WritePhase& phase, int n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> at(0.0, phase.end - phase.begin);
  std::vector<KillPoint> out;
  for (int i = 0; i < n; ++i) {
    const double d = at(rng);
    char label[64];
    std::snprintf(label, sizeof label, "kill %.1f ms into the write phase", 1e3 * d);
    out.push_back({d, label});
  }
  out.push_back({-1, "kill at the destination's first change"});
  return out;
}

KillRun run_and_kill(const std::vector<std::string>& args, const KillPoint& point, const std::string& watch,
                     const std::string& destination) {
  const auto initial = listing(destination, true);
  const auto before = listing(watch, false);
  SpawnedCli c = spawn_cli(args);
  double started_at = -1;
  if (point.delay >= 0) {
    auto started = [&] {
      for (const auto& [rel, e] : listing(watch, false))
        if (!before.count(rel)) return true;
      return false;
    };
    while (!c.exited() && !started()) std::this_thread::sleep_for(std::chrono::microseconds(200));
    if (!c.exited()) started_at = c.elapsed();
    const auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(point.delay);
    while (std::chrono::steady_clock::now() < until && !c.exited()) std::this_thread::sleep_for(std::chrono::microseconds(500));
  } else {
    while (!c.exited() && listing(destination, true) == initial) std::this_thread::sleep_for(std::chrono::microseconds(100));
  }
  KillRun run{c.kill_and_wait(SIGKILL), -1};
  if (started_at >= 0) run.phase = run.result.seconds - started_at;
  return run;
}

KillSchedule::KillSchedule(std::vector<KillPoint> points, const WritePhase& phase)
    : points_(std::move(points)), phase_(std::max(1e-6, phase.end - phase.begin)) {}

const KillPoint* KillSchedule::next() {
  if (retry_) {
    retry_ = false;
    ++attempts_;
    return &current_;
  }
  if (at_ == points_.size()) return nullptr;
  current_ = points_[at_++];
  current_phase_ = phase_;
  attempts_ = 1;
  ++originals_;
  return &current_;
}

void KillSchedule::record(const KillRun& run) {
  ++runs_;
  landed_ += run.result.killed;
  if (std::getenv("CORNERSTONE_KILL_DEBUG"))
    std::printf("[ crashsafe ]   %s: %s; the run's write phase %.1f ms of %.1f ms\n", current_.label.c_str(),
                run.result.killed ? "killed" : "it had finished", 1e3 * run.phase, 1e3 * run.result.seconds);
  if (run.result.killed || attempts_ >= 3 || current_.delay < 0 || run.phase < 0) return;
  // Finished before the kill: try this point again, at a little less than the same fraction of
  // the phase this run had (the points that miss are the late ones, where timer and wake-up jitter
  // on a loaded machine are as long as what is left of the phase).
  const double fraction = 0.8 * current_.delay / current_phase_;
  current_phase_ = std::max(1e-6, run.phase);
  current_.delay = fraction * current_phase_;
  char label[96];
  std::snprintf(label, sizeof label, " (again at %.1f ms: the last run ended first)", 1e3 * current_.delay);
  current_.label += label;
  retry_ = true;
}

void KillSchedule::expect_most_landed(const std::string& what) const {
  std::printf("[ crashsafe ] %s: %d of %d runs killed mid-run (%d kill points)\n", what.c_str(), landed_, runs_, originals_);
  EXPECT_GE(2 * landed_, originals_) << what << ": most kills came after the process had finished; the schedule is off";
}

}  // namespace cornerstone::testing
