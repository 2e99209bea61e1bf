// A `cornerstone serve` process for the tests: started on a free port (--port 0; the port is read
// from its first line of output), stopped with SIGTERM, its exit status checked.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <stdexcept>
#include <string>
#include <vector>

#include "cli.h"

namespace cornerstone::testing {

class ServeProcess {
 public:
  // Runs `cornerstone serve --host 127.0.0.1 --port 0 ARGS...` and waits until it listens.
  explicit ServeProcess(const std::vector<std::string>& args) {
    int out[2];
    if (pipe(out) != 0) throw std::runtime_error("pipe failed");
    std::vector<std::string> argv_s = {cli_path(), "serve", "--host", "127.0.0.1", "--port", "0"};
    argv_s.insert(argv_s.end(), args.begin(), args.end());
    pid_ = fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
      dup2(out[1], STDOUT_FILENO);
      dup2(out[1], STDERR_FILENO);
      close(out[0]);
      close(out[1]);
      std::vector<char*> argv;
      for (auto& a : argv_s) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(argv[0], argv.data());
      _exit(127);
    }
    close(out[1]);
    fd_ = out[0];
    // The first line: "serving ID on http://127.0.0.1:PORT".
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (output_.find('\n') == std::string::npos) {
      if (std::chrono::steady_clock::now() > deadline) throw std::runtime_error("serve did not start: " + output_);
      if (!read_some(1000)) break;
    }
    const size_t colon = output_.rfind(':', output_.find('\n'));
    if (output_.rfind("serving ", 0) != 0 || colon == std::string::npos) {
      read_rest();
      throw std::runtime_error("serve did not start: " + output_);
    }
    port_ = std::stoi(output_.substr(colon + 1));
  }
  ~ServeProcess() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    if (fd_ >= 0) close(fd_);
  }

  int port() const { return port_; }
  // SIGSTOP / SIGCONT: requests sent meanwhile wait in the socket backlog and arrive together.
  void pause() { kill(pid_, SIGSTOP); }
  void resume() { kill(pid_, SIGCONT); }
  pid_t pid() const { return pid_; }

  // Sends SIGTERM and returns the exit code (128 + signal when killed), waiting at most `seconds`.
  int terminate(int seconds = 60) {
    kill(pid_, SIGTERM);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
    int status = 0;
    while (waitpid(pid_, &status, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() > deadline) {
        kill(pid_, SIGKILL);
        waitpid(pid_, &status, 0);
        pid_ = -1;
        return -1;
      }
      read_some(50);
    }
    pid_ = -1;
    read_rest();
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
  const std::string& output() const { return output_; }

 private:
  bool read_some(int timeout_ms) {
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, timeout_ms) <= 0) return true;
    char buf[4096];
    const ssize_t n = read(fd_, buf, sizeof buf);
    if (n <= 0) return false;
    output_.append(buf, static_cast<size_t>(n));
    return true;
  }
  void read_rest() {
    while (read_some(100)) {
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 0) <= 0) break;
    }
  }

  pid_t pid_ = -1;
  int fd_ = -1;
  int port_ = 0;
  std::string output_;
};

}  // namespace cornerstone::testing
