// Runs a child process with arguments (no shell), feeding stdin and capturing stdout and stderr.
#pragma once

#include <mutex>
#include <string>
#include <thread>
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

// Runs argv[0] with argv on a new pseudo-terminal (its stdin, stdout and stderr), as a user at a
// terminal would; `out` holds everything it wrote there (with the terminal's \r\n line ends).
ProcessResult run_on_terminal(const std::vector<std::string>& argv, int timeout_s = 300);

// Path of the built hangar binary.
std::string hangar_binary();

// A child process left running, such as `hangar serve`; stopped (SIGTERM, then SIGKILL) when
// destroyed. A thread keeps reading its stdout and stderr (together) so it never blocks on a
// full pipe.
class ChildProcess {
 public:
  explicit ChildProcess(const std::vector<std::string>& argv);
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  // Waits until `needle` appears in the output (true), or the output ends or timeout_s passes.
  bool wait_for_output(const std::string& needle, int timeout_s);
  std::string output() const;
  int pid() const { return pid_; }
  // SIGTERM; SIGKILL after timeout_s. Returns the exit code, -1 when killed by a signal.
  int stop(int timeout_s = 20);

 private:
  int pid_ = -1;
  int exit_code_ = -2;  // -2: not reaped yet
  mutable std::mutex mu_;
  std::string output_;
  bool output_closed_ = false;
  std::thread reader_;
};

}  // namespace hangar::testing
