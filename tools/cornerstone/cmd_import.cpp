// `cornerstone import`: a GGUF file or a Hugging Face folder as a Cornerstone model folder.
#include <chrono>
#include <cstdio>

#include "command.h"
#include "cornerstone/interop/convert.h"

namespace {

void add_import(CLI::App& app) {
  auto* cmd = app.add_subcommand("import", "Import a GGUF file or a Hugging Face folder as a Cornerstone model folder");
  static std::string from, out;
  cmd->add_option("--from", from, "A .gguf file, or a folder with config.json + safetensors (single or sharded)")->required();
  cmd->add_option("--out", out, "New model folder (f32 weights + tokenizer.json); must not exist or be empty")->required();
  cmd->callback([] {
    using namespace cornerstone;
    const auto t0 = std::chrono::steady_clock::now();
    const auto r = interop::import_model(from, out);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    for (const auto& n : r.notes) std::fprintf(stderr, "note: %s\n", n.c_str());
    std::printf("imported %s into %s (%zu files, %.1f MB) in %.2f s\n", from.c_str(), out.c_str(), r.files.size(),
                static_cast<double>(r.bytes) / 1e6, s);
  });
}

}  // namespace

CORNERSTONE_COMMAND(add_import, 51)
