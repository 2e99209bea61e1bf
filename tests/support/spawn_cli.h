// Running the `cornerstone` CLI as a child process the test controls: its pid (to kill it at a
// chosen moment) and its output (drained by a thread, so a chatty child never blocks on the pipe).
// (spawn_cli.h, not spawn.h: tests/support is on the include path and would shadow POSIX <spawn.h>.)
//
//   SpawnedCli c = spawn_cli({"prepare", "--tokenizer", tok, "--input", text, "--out", out});
//   std::this_thread::sleep_for(20ms);
//   const SpawnResult r = c.kill_and_wait(SIGKILL);   // r.killed: it was still running
#pragma once

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

namespace cornerstone::testing {

struct SpawnResult {
  int exit_code = -1;   // the exit status, or 128 + signal
  bool killed = false;  // ended by the signal kill_and_wait sent (false: it had already exited)
  std::string output;   // stdout and stderr, interleaved
  double seconds = 0;   // from spawn to exit
};

class SpawnedCli {
 public:
  SpawnedCli(pid_t pid, int output_fd);
  ~SpawnedCli();  // kills (SIGKILL) and reaps a child still running
  SpawnedCli(SpawnedCli&&) noexcept;
  SpawnedCli(const SpawnedCli&) = delete;
  SpawnedCli& operator=(const SpawnedCli&) = delete;

  pid_t pid() const;
  // True once the child has exited (reaped without blocking).
  bool exited();
  // Seconds since the spawn.
  double elapsed() const;
  // Waits for the child to exit by itself.
  SpawnResult wait();
  // Sends `signal` unless the child has already exited, then waits for it.
  SpawnResult kill_and_wait(int signal);

 private:
  struct State;
  std::unique_ptr<State> s_;
};

// fork + exec of the CLI (cli_path()) with these arguments, no shell; stdin is /dev/null.
SpawnedCli spawn_cli(const std::vector<std::string>& args);

}  // namespace cornerstone::testing
