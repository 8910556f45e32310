// Helpers shared by the hangar subcommands: error reporting and engine set-up.
#pragma once

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <memory>
#include <string>
#include <vector>

#include "base/thread_pool.h"
#include "engine/engine.h"

namespace hangar::cli {

// Exit status for bad input (missing file, bad flag, bad model).
constexpr int kExitBadInput = 1;

// Prints "hangar: error: <message>" as one line on stderr; returns kExitBadInput.
int fail(const std::string& message);

// The JSON text of `j`. Strings from files and paths need not be UTF-8: invalid bytes become
// U+FFFD instead of an exception (nlohmann's default), so printing never aborts.
std::string json_text(const nlohmann::json& j, int indent = -1);

// The non-empty items of a comma-separated flag value ("a,,b" -> {"a", "b"}).
std::vector<std::string> split_list(const std::string& s);

// Options every model-running command takes.
struct ModelOptions {
  std::string model_path;
  int threads = 0;      // 0: physical cores
  int ctx = 4096;
  bool mmap = false;    // use the weights in place instead of reading them into huge pages
  std::string layout_cache;  // --mmap: model::LayoutCache directory
  std::string device = "auto";  // auto, cpu or cuda
  void add_to(CLI::App& cmd, bool with_ctx = true);
  int resolved_threads() const { return threads > 0 ? threads : ThreadPool::physical_cores(); }
  // The engine options these flags set: device (resolved), weights in memory, context.
  Result<engine::EngineOptions> engine_options() const;
};

// Adds --device (auto: CUDA when a GPU is present, else the CPU) to a command.
void add_device_option(CLI::App& cmd, std::string& device);

// Each subcommand registers itself with the app and sets `exit_code` when it runs.
void add_run_command(CLI::App& app, int& exit_code);
void add_score_command(CLI::App& app, int& exit_code);
void add_tokenize_commands(CLI::App& app, int& exit_code);
void add_inspect_command(CLI::App& app, int& exit_code);
void add_bench_command(CLI::App& app, int& exit_code);
void add_quantize_command(CLI::App& app, int& exit_code);
void add_perplexity_command(CLI::App& app, int& exit_code);
void add_serve_command(CLI::App& app, int& exit_code);
void add_swap_bench_command(CLI::App& app, int& exit_code);

}  // namespace hangar::cli
