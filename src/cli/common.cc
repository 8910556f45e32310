// Shared CLI helpers.
#include "cli/common.h"

#include <cstdio>
#include <sstream>

namespace hangar::cli {

int fail(const std::string& message) {
  std::string line = message;
  for (char& c : line)
    if (c == '\n') c = ' ';
  std::fprintf(stderr, "hangar: error: %s\n", line.c_str());
  return kExitBadInput;
}

std::string json_text(const nlohmann::json& j, int indent) {
  return j.dump(indent, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  std::string item;
  while (std::getline(in, item, ','))
    if (!item.empty()) out.push_back(item);
  return out;
}

void ModelOptions::add_to(CLI::App& cmd, bool with_ctx) {
  cmd.add_option("-m,--model", model_path, "GGUF model file")->required();
  cmd.add_option("-t,--threads", threads, "compute threads (default: physical cores)")
      ->check(CLI::NonNegativeNumber);
  cmd.add_flag("--mmap", mmap,
               "use the weights in place (a map of the file in huge-page folios of the page cache; "
               "default: read them into private huge-page memory)");
  cmd.add_option("--layout-cache", layout_cache,
                 "with --mmap: keep the matrices rearranged for this CPU's kernels in this directory (built "
                 "once per model file; without it mapped Q5_0 matrices keep the file's layout)");
  if (with_ctx)
    cmd.add_option("-c,--ctx", ctx, "context size in tokens (capped by the model's)")
        ->check(CLI::PositiveNumber);
  add_device_option(cmd, device);
}

void add_device_option(CLI::App& cmd, std::string& device) {
  cmd.add_option("--device", device, "where to compute: auto (CUDA when a GPU is present), cpu or cuda")
      ->capture_default_str();
}

Result<engine::EngineOptions> ModelOptions::engine_options() const {
  engine::EngineOptions eo;
  HANGAR_ASSIGN(eo.device, model::resolve_device(device));
  eo.n_ctx = ctx;
  eo.weights_in_memory = !mmap;
  eo.layout_cache_dir = layout_cache;
  return eo;
}

}  // namespace hangar::cli
