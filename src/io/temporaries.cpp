#include "cornerstone/io/temporaries.h"

#include <signal.h>

#include <cerrno>
#include <filesystem>
#include <system_error>
#include <vector>

namespace cornerstone::io {

namespace fs = std::filesystem;

bool process_alive(long pid) {
  if (pid <= 0) return false;
  return ::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM;
}

namespace {

// The process id after `marker` at or after `from` in `name`, or -1.
long owner_after(const std::string& name, const std::string& marker, size_t from) {
  const size_t at = name.find(marker, from);
  if (at == std::string::npos) return -1;
  size_t i = at + marker.size();
  long pid = 0;
  const size_t digits_begin = i;
  while (i < name.size() && name[i] >= '0' && name[i] <= '9' && pid < (1L << 40)) pid = pid * 10 + (name[i++] - '0');
  return i == digits_begin ? -1 : pid;
}

}  // namespace

bool is_stale_temporary(const std::string& name, const std::string& marker) {
  const long pid = owner_after(name, marker, 0);
  return pid > 0 && !process_alive(pid);
}

void remove_stale_temporaries(const std::string& folder, const std::string& prefix, const std::string& marker) {
  std::vector<fs::path> stale;
  std::error_code ec;
  fs::directory_iterator it(folder.empty() ? fs::path(".") : fs::path(folder), ec), end;
  for (; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.rfind(prefix, 0) != 0) continue;
    const long pid = owner_after(name, marker, prefix.size() >= marker.size() ? prefix.size() - marker.size() : 0);
    if (pid <= 0 || process_alive(pid)) continue;
    stale.push_back(it->path());
  }
  for (const auto& p : stale) fs::remove_all(p, ec);
}

}  // namespace cornerstone::io
