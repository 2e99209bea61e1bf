// `cornerstone plot RUN`: the run's loss curves as an SVG.
#include <cstdio>
#include <filesystem>

#include "command.h"
#include "cornerstone/io/atomic_file.h"
#include "cornerstone/train/loss_plot.h"

namespace {

void add_plot(CLI::App& app) {
  auto* cmd = app.add_subcommand("plot", "Render a run's train/validation loss curves to SVG");
  static std::string run, out;
  cmd->add_option("run", run, "Run folder (with metrics.jsonl)")->required();
  cmd->add_option("--out", out, "SVG file to write (default: RUN/loss.svg)");
  cmd->callback([] {
    namespace fs = std::filesystem;
    using namespace cornerstone;
    const auto curves = train::read_metrics((fs::path(run) / "metrics.jsonl").string());
    const std::string path = out.empty() ? (fs::path(run) / "loss.svg").string() : out;
    io::write_file_atomic(path, train::render_loss_svg(curves, "Loss: " + fs::path(run).filename().string()));
    std::printf("%s (%zu train points, %zu validation points)\n", path.c_str(), curves.train.size(), curves.val.size());
  });
}

}  // namespace

CORNERSTONE_COMMAND(add_plot, 60)
