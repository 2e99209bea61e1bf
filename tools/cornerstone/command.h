// Subcommands register themselves: each tools/cornerstone/cmd_*.cpp defines a function that adds
// its CLI11 subcommand (with options and a callback) and registers it with CORNERSTONE_COMMAND.
// The callbacks only parse and call the library.
//
//   static void add_hello(CLI::App& app) {
//     auto* cmd = app.add_subcommand("hello", "Say hello");
//     cmd->callback([] { std::puts("hello"); });
//   }
//   CORNERSTONE_COMMAND(add_hello, 100)   // 100: position in --help
#pragma once

#include <CLI/CLI.hpp>

namespace cornerstone::cli {

using CommandSetup = void (*)(CLI::App&);

struct CommandRegistration {
  CommandRegistration(CommandSetup setup, int order);
};

}  // namespace cornerstone::cli

#define CORNERSTONE_COMMAND(setup, order) \
  static const ::cornerstone::cli::CommandRegistration cs_command_registration_##setup(setup, order);
