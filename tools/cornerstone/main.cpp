// The `cornerstone` command: global options, then one subcommand per tools/cornerstone/cmd_*.cpp.
#include <algorithm>
#include <cstdio>
#include <exception>
#include <vector>

#include "command.h"
#include "cornerstone/core/cpu.h"
#include "cornerstone/core/error.h"
#include "cornerstone/core/parallel.h"
#include "cornerstone/dist/process_group.h"

namespace cornerstone::cli {

namespace {
std::vector<std::pair<int, CommandSetup>>& registry() {
  static std::vector<std::pair<int, CommandSetup>> r;
  return r;
}
}  // namespace

CommandRegistration::CommandRegistration(CommandSetup setup, int order) { registry().emplace_back(order, setup); }

}  // namespace cornerstone::cli

int main(int argc, char** argv) {
  using namespace cornerstone;
  CLI::App app{"Cornerstone: train, adapt and serve transformer foundation models on the CPU.\n"
               "Run `cornerstone COMMAND --help` for the options of a command.",
               "cornerstone"};
  app.set_version_flag("--version", std::string("cornerstone ") + CORNERSTONE_VERSION);
  int threads = 0;
  app.add_option("--threads", threads, "Worker threads (default: all cores; under mpirun, the cores shared by the ranks on this machine)")
      ->check(CLI::NonNegativeNumber);
  app.require_subcommand(0, 1);
  app.parse_complete_callback([&] { set_num_threads(threads > 0 ? threads : dist::default_threads()); });

  // Under mpirun every process is a rank of one job (dist/): MPI starts here, and an error on any
  // rank ends the whole job instead of leaving the others waiting in a collective.
  const int rank = dist::launched_by_mpi() ? dist::ProcessGroup::world().rank() : 0;
  auto fail = [&](const char* what) {
    if (dist::launched_by_mpi() && dist::ProcessGroup::world().distributed()) {
      std::fprintf(stderr, "error (rank %d of %d): %s\n", rank, dist::ProcessGroup::world().size(), what);
      std::fflush(stderr);
      dist::abort_job(1);
    }
    std::fprintf(stderr, "error: %s\n", what);
    return 1;
  };

  auto& reg = cli::registry();
  std::stable_sort(reg.begin(), reg.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  for (const auto& [order, setup] : reg) setup(app);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const Error& e) {
    return fail(e.what());
  } catch (const std::exception& e) {
    return fail(e.what());
  }
  if (app.get_subcommands().empty()) {
    std::fputs(app.help().c_str(), stdout);
  }
  return 0;
}
