// hangar: the command-line entry point; dispatches to the subcommands.
#include <CLI/CLI.hpp>

#include <cstdio>

#include "cli/common.h"

int main(int argc, char** argv) {
  CLI::App app{"hangar: a local LLM inference server with its own engine"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "hangar 0.1.0");
  int exit_code = 0;
  hangar::cli::add_run_command(app, exit_code);
  hangar::cli::add_score_command(app, exit_code);
  hangar::cli::add_tokenize_commands(app, exit_code);
  hangar::cli::add_inspect_command(app, exit_code);
  hangar::cli::add_bench_command(app, exit_code);
  hangar::cli::add_quantize_command(app, exit_code);
  hangar::cli::add_perplexity_command(app, exit_code);
  hangar::cli::add_serve_command(app, exit_code);
  hangar::cli::add_swap_bench_command(app, exit_code);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    return hangar::cli::fail(std::string(e.what()) + " (see hangar --help)");
  }
  return exit_code;
}
