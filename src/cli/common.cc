// Shared CLI helpers.
#include "cli/common.h"

#include <cstdio>

namespace hangar::cli {

int fail(const std::string& message) {
  std::string line = message;
  for (char& c : line)
    if (c == '\n') c = ' ';
  std::fprintf(stderr, "hangar: error: %s\n", line.c_str());
  return kExitBadInput;
}

void ModelOptions::add_to(CLI::App& cmd, bool with_ctx) {
  cmd.add_option("-m,--model", model_path, "GGUF model file")->required();
  cmd.add_option("-t,--threads", threads, "compute threads (default: physical cores)")
      ->check(CLI::NonNegativeNumber);
  cmd.add_flag("--mmap", mmap,
               "use the weights in place through mmap (default: read them into huge-page memory, faster "
               "to stream)");
  if (with_ctx)
    cmd.add_option("-c,--ctx", ctx, "context size in tokens (capped by the model's)")
        ->check(CLI::PositiveNumber);
}

}  // namespace hangar::cli
