// `cornerstone info`: what this machine offers the engine (ISA, threads, GEMM library).
#include <cstdio>

#include "command.h"
#include "cornerstone/core/cpu.h"
#include "cornerstone/core/parallel.h"

namespace {

void add_info(CLI::App& app) {
  auto* cmd = app.add_subcommand("info", "Show the CPU features, kernel variant and thread count in use");
  cmd->callback([] {
    using namespace cornerstone;
    const auto& f = cpu::features();
    std::printf("version   %s\n", CORNERSTONE_VERSION);
    std::printf("kernels   %s (hardware best: %s)\n", std::string(cpu::isa_name(cpu::isa())).c_str(),
                std::string(cpu::isa_name(cpu::best_isa())).c_str());
    std::printf("cpu       avx2=%d fma=%d avx512f=%d avx512bw=%d avx512vl=%d avx512_bf16=%d avx512_vnni=%d\n", f.avx2,
                f.fma, f.avx512f, f.avx512bw, f.avx512vl, f.avx512_bf16, f.avx512_vnni);
    std::printf("threads   %d\n", num_threads());
    std::printf("gemm      oneDNN (fp32 sgemm, bf16 matmul)\n");
  });
}

}  // namespace

CORNERSTONE_COMMAND(add_info, 900)
