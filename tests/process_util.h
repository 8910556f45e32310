// Runs a child process with arguments (no shell), feeding stdin and capturing stdout and stderr.
#pragma once

#include <string>
#include <vector>

namespace hangar::testing {

struct ProcessResult {
  int exit_code = -1;  // -1 when killed by a signal
  std::string out, err;
};

// Runs argv[0] with argv, writes `input` to its stdin, and waits (at most timeout_s seconds;
// then kills it and returns exit_code -1).
ProcessResult run_process(const std::vector<std::string>& argv, const std::string& input = "",
                          int timeout_s = 300);

// Path of the built hangar binary.
std::string hangar_binary();

}  // namespace hangar::testing
