// Shared pieces of the libFuzzer harnesses (fuzz/fuzz_*.cpp; built with CORNERSTONE_BUILD_FUZZ,
// run with `make fuzz`). Each harness feeds its input to one parser the way a downloaded file
// reaches it (most parsers take a path and mmap it), then uses what the parser accepted the way
// the engine would: reads every tensor's bytes, encodes text, sizes the model. A
// cornerstone::Error (or any std::exception, which the CLI reports as an error) is a correct
// rejection; a crash, a sanitizer report, a leak, a timeout or an allocation past libFuzzer's
// -malloc_limit_mb is a finding.
#pragma once

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

namespace cornerstone::fuzz {

// A folder of this process's own under /dev/shm (tmpfs: no disk I/O per input).
inline const std::filesystem::path& scratch_dir() {
  static const std::filesystem::path dir = [] {
    std::filesystem::path base = std::filesystem::exists("/dev/shm") ? "/dev/shm" : std::filesystem::temp_directory_path();
    std::filesystem::path d = base / ("cornerstone_fuzz_" + std::to_string(::getpid()));
    std::filesystem::create_directories(d);
    return d;
  }();
  return dir;
}

// Writes `bytes` to scratch_dir()/name and returns the path.
inline std::string write_scratch(const std::string& name, std::string_view bytes) {
  const std::filesystem::path p = scratch_dir() / name;
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  return p.string();
}

// Reads every byte of [p, p + n) so that ASan sees an out-of-bounds view; the sum keeps the
// loop from being optimised away.
inline uint64_t touch(const void* p, size_t n) {
  uint64_t sum = 0;
  const auto* b = static_cast<const unsigned char*>(p);
  for (size_t i = 0; i < n; ++i) sum += b[i];
  return sum;
}

inline volatile uint64_t g_sink = 0;

// Runs `f`; exceptions are rejections (the parser said no), everything else propagates.
template <typename F>
void rejecting(F&& f) {
  try {
    f();
  } catch (const std::exception&) {
  }
}

}  // namespace cornerstone::fuzz
