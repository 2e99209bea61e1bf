#include "spawn_cli.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "cli.h"

namespace cornerstone::testing {

using Clock = std::chrono::steady_clock;

struct SpawnedCli::State {
  pid_t pid = -1;
  bool reaped = false, collected = false;
  int status = 0;
  Clock::time_point start = Clock::now(), end;
  std::mutex mu;
  std::string output;
  std::thread reader;

  // waitpid; true when the child has been reaped (now or before).
  bool reap(bool block) {
    if (reaped) return true;
    pid_t w;
    do {
      w = ::waitpid(pid, &status, block ? 0 : WNOHANG);
    } while (w < 0 && errno == EINTR);
    if (w < 0) throw std::runtime_error("waitpid: " + std::string(std::strerror(errno)));
    if (w != pid) return false;
    reaped = true;
    end = Clock::now();
    return true;
  }
  SpawnResult result(int sent_signal) {
    if (collected) throw std::logic_error("SpawnedCli: the result was already taken");
    collected = true;
    if (reader.joinable()) reader.join();  // the pipe's end of file: every writer has exited
    SpawnResult r;
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    r.killed = sent_signal != 0 && WIFSIGNALED(status) && WTERMSIG(status) == sent_signal;
    r.output = output;
    r.seconds = std::chrono::duration<double>(end - start).count();
    return r;
  }
};

SpawnedCli::SpawnedCli(pid_t pid, int fd) : s_(std::make_unique<State>()) {
  s_->pid = pid;
  State* s = s_.get();
  s_->reader = std::thread([s, fd] {
    char buf[4096];
    for (;;) {
      const ssize_t n = ::read(fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      std::lock_guard<std::mutex> lock(s->mu);
      s->output.append(buf, static_cast<size_t>(n));
    }
    ::close(fd);
  });
}

SpawnedCli::SpawnedCli(SpawnedCli&&) noexcept = default;

SpawnedCli::~SpawnedCli() {
  if (!s_ || s_->collected) return;
  if (!s_->reap(false)) {
    ::kill(s_->pid, SIGKILL);
    s_->reap(true);
  }
  if (s_->reader.joinable()) s_->reader.join();
}

pid_t SpawnedCli::pid() const { return s_->pid; }

bool SpawnedCli::exited() { return s_->reap(false); }

double SpawnedCli::elapsed() const { return std::chrono::duration<double>(Clock::now() - s_->start).count(); }

SpawnResult SpawnedCli::kill_and_wait(int signal) {
  int sent = 0;
  if (!s_->reap(false)) {
    // Not reaped, so the pid cannot have been reused: the signal reaches our child (or its zombie,
    // when it exited a moment ago; then it reports its own exit status, and killed is false).
    ::kill(s_->pid, signal);
    sent = signal;
    s_->reap(true);
  }
  return s_->result(sent);
}

SpawnResult SpawnedCli::wait() {
  s_->reap(true);
  return s_->result(0);
}

SpawnedCli spawn_cli(const std::vector<std::string>& args) {
  const std::string exe = cli_path();
  std::vector<std::string> argv_s{exe};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);

  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe: " + std::string(std::strerror(errno)));
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork: " + std::string(std::strerror(errno)));
  if (pid == 0) {
    // The child: only async-signal-safe calls until exec (dup2 clears O_CLOEXEC on 0, 1, 2).
    const int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0) ::dup2(devnull, 0);
    ::dup2(fds[1], 1);
    ::dup2(fds[1], 2);
    ::execv(exe.c_str(), argv.data());
    ::_exit(127);
  }
  ::close(fds[1]);
  return SpawnedCli(pid, fds[0]);
}

}  // namespace cornerstone::testing
