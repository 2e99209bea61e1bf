#include "cli.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <stdexcept>
#include <thread>

#include "test_util.h"

namespace cornerstone::testing {

std::string cli_path() {
  const char* p = std::getenv("CORNERSTONE_CLI");
  if (p && *p) return p;
  return std::string(CORNERSTONE_BINARY_DIR) + "/cornerstone";
}

CliResult run_cli(const std::string& args) { return run_launched("", args); }

std::string mpi_launcher(int ranks) {
  setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 1);  // CI runs as root; OpenMPI refuses that unless told
  setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 1);
  return "mpirun -np " + std::to_string(ranks) + " --oversubscribe --bind-to none ";
}

CliResult run_launched(const std::string& launcher, const std::string& args) {
  const std::string cmd = launcher + cli_path() + " " + args + " 2>&1";
  FILE* f = popen(cmd.c_str(), "r");
  if (!f) throw std::runtime_error("cannot run " + cmd);
  CliResult r{0, ""};
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), f)) > 0) r.output.append(buf.data(), n);
  const int status = pclose(f);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

InterruptedCliResult run_cli_interrupting(const std::string& args, const std::function<bool()>& ready, const std::string& launcher) {
  int fds[2];
  if (pipe(fds) != 0) throw std::runtime_error("pipe failed");
  const std::string cmd = "exec " + launcher + cli_path() + " " + args;
  const pid_t pid = fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {  // the child: the shell execs the CLI, so `pid` is the CLI itself
    dup2(fds[1], STDOUT_FILENO);
    dup2(fds[1], STDERR_FILENO);
    close(fds[0]);
    close(fds[1]);
    execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  close(fds[1]);
  fcntl(fds[0], F_SETFL, fcntl(fds[0], F_GETFL) | O_NONBLOCK);
  InterruptedCliResult r;
  r.exit_code = 0;
  char buf[4096];
  auto drain = [&] {
    ssize_t n;
    while ((n = read(fds[0], buf, sizeof buf)) > 0) r.output.append(buf, static_cast<size_t>(n));
  };
  int status = 0;
  for (;;) {
    drain();
    if (waitpid(pid, &status, WNOHANG) == pid) break;
    if (!r.signalled && ready()) {
      kill(pid, SIGINT);
      r.signalled = true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  fcntl(fds[0], F_SETFL, fcntl(fds[0], F_GETFL) & ~O_NONBLOCK);
  ssize_t n;
  while ((n = read(fds[0], buf, sizeof buf)) > 0) r.output.append(buf, static_cast<size_t>(n));
  close(fds[0]);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  std::smatch m;
  if (std::regex_search(r.output, m, std::regex("interrupted at step (\\d+); checkpoint saved"))) r.stopped_at = std::stoll(m[1]);
  return r;
}

std::string checkpoint_name(int64_t step) {
  char name[32];
  std::snprintf(name, sizeof name, "step-%08lld", static_cast<long long>(step));
  return name;
}

int64_t count_lines(const std::string& path) {
  std::ifstream in(path);
  int64_t n = 0;
  std::string line;
  while (std::getline(in, line)) ++n;
  return n;
}

std::string fresh_temp_dir(const std::string& name) {
  namespace fs = std::filesystem;
  const fs::path d = fs::temp_directory_path() / ("cornerstone_" + name + "_" + std::to_string(getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d.string();
}

std::string fetch_dataset(const std::string& name) {
  const std::string cmd = source_path("scripts/fetch") + " " + name;
  FILE* f = popen(cmd.c_str(), "r");
  if (!f) throw std::runtime_error("cannot run " + cmd);
  char buf[4096];
  std::string out;
  while (fgets(buf, sizeof buf, f)) out += buf;
  if (pclose(f) != 0) throw std::runtime_error(cmd + " failed: " + out);
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

}  // namespace cornerstone::testing
