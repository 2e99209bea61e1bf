// Killing the CLI at chosen moments of a write and looking at what it left (tests/crashsafe).
//
// A clean run is timed first: its write phase begins when the first new file appears anywhere
// under the watched folder (a temporary, a staging folder, a checkpoint) and ends when the
// process exits. Kill points are offsets into that phase, drawn uniformly with a seeded generator
// (CORNERSTONE_KILL_SEED overrides the seed; the seed is printed so that a failure reproduces);
// each kill run waits for its own first new file and kills that long after it, so start-up time
// jitter does not push kills past the end. One more kill lands the moment the destination first
// changes, where a non-atomic writer would be caught with an old file beside a new one.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "spawn_cli.h"

namespace cornerstone::testing {

// The visible files under PATH (a file or a folder, recursively), relative name -> contents.
// Temporaries are not visible: any name part that starts with '.' or contains ".tmp.". A missing
// PATH gives an empty snapshot.
using Snapshot = std::map<std::string, std::string>;
Snapshot snapshot(const std::string& path, const std::vector<std::string>& ignore = {});
// "name (bytes), ..." for failure messages.
std::string describe(const Snapshot& s);
// Equality that reports names and sizes (and which files differ), not the bytes.
::testing::AssertionResult same(const Snapshot& actual, const Snapshot& expected);
::testing::AssertionResult same_bytes(const std::string& actual, const std::string& expected);

// The temporaries left under `folder` (recursively): names with a part starting with '.' or
// containing ".tmp.", or containing ".partial-".
std::vector<std::string> temporaries(const std::string& folder);

struct WritePhase {
  double begin = 0, end = 0;  // seconds after spawn
  SpawnResult run;            // the clean run
};
// Runs `args` to completion twice, each time after `reset()` (which puts the destination back in
// its starting state), watching `folder` for the first new file; the faster (warm) run counts.
WritePhase time_write_phase(const std::vector<std::string>& args, const std::string& folder, const std::function<void()>& reset);

struct KillPoint {
  double delay = -1;   // seconds into the write phase; < 0: when the destination first changes
  std::string label;   // for messages
};
// `n` points uniform over the write phase, then one at the destination's first change.
std::vector<KillPoint> kill_points(const WritePhase& phase, int n, uint64_t seed);
// The seed to draw kill points with: CORNERSTONE_KILL_SEED or `fallback`.
uint64_t kill_seed(uint64_t fallback);

struct KillRun {
  SpawnResult result;  // result.killed: the kill landed before the process finished
  double phase = -1;   // seconds from the run's first new file to its end (-1: none appeared)
};
// Spawns `args` and SIGKILLs it at `point`: `delay` after the first new file under `watch`, or
// when the visible files under `destination` first change.
KillRun run_and_kill(const std::vector<std::string>& args, const KillPoint& point, const std::string& watch,
                     const std::string& destination);

// The kill points of a test, in order. A run that finished before its kill (the machine got
// faster than during the timing run: other jobs share it) gets its point again (up to twice), the
// delay scaled to the write phase that run had and moved a little earlier (x 0.8), so the points
// stay spread over the whole phase (CORNERSTONE_KILL_DEBUG=1 prints every run):
//
//   KillSchedule schedule(kill_points(clean, 12, seed), clean);
//   while (const KillPoint* p = schedule.next()) { reset; schedule.record(run_and_kill(...)); check; }
//   schedule.expect_most_landed("prepare");
class KillSchedule {
 public:
  KillSchedule(std::vector<KillPoint> points, const WritePhase& phase);
  const KillPoint* next();
  void record(const KillRun& run);
  // Fails the test unless at least half of the points got a kill that landed mid-run (a schedule
  // that never lands would test nothing); prints the counts.
  void expect_most_landed(const std::string& what) const;

 private:
  std::vector<KillPoint> points_;
  double phase_, current_phase_ = 0;  // the timing run's write phase; the one the current point is a fraction of
  size_t at_ = 0;
  KillPoint current_;
  bool retry_ = false;
  int attempts_ = 0;  // of the current point
  int runs_ = 0, landed_ = 0, originals_ = 0;
};

}  // namespace cornerstone::testing
