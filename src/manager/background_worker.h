// BackgroundWorker: one thread that runs the manager's periodic jobs on an injected clock.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "base/clock.h"
#include "base/result.h"

namespace hangar::manager {

// What one run of a job did. `freed_bytes` and `freed_items` count what it released (memory,
// registry rows, database pages); `detail` says it in words for stats.
struct JobOutcome {
  int64_t freed_bytes = 0;
  int64_t freed_items = 0;
  std::string detail;
  // The job stopped with work left (it does its work in short runs so the other jobs take
  // turns): it runs again as soon as the other due jobs have run.
  bool again = false;
};

// A job's record, as shown in /v1/models/stats.
struct JobStats {
  std::string name;
  int64_t interval_ms = 0;
  int64_t runs = 0, failures = 0;
  int64_t last_run_ms = -1;      // clock time the last run started; -1 before the first
  double last_duration_ms = 0;   // measured with the steady clock (not the injected one)
  JobOutcome last;               // of the last successful run
  std::string last_error;        // of the last run, when it failed
  int64_t freed_bytes_total = 0, freed_items_total = 0;
};

// Jobs run one at a time on the worker's thread, each when its interval has passed since its
// last run (the first run is due at once). A job must not block on request paths: it takes
// only the short locks the components it calls take. Tests add jobs, advance a fake clock and
// call run_due(); they never start the thread and never sleep. Thread-safe.
class BackgroundWorker {
 public:
  using Job = std::function<Result<JobOutcome>()>;

  explicit BackgroundWorker(const Clock& clock) : clock_(clock) {}
  ~BackgroundWorker() { stop(); }
  BackgroundWorker(const BackgroundWorker&) = delete;
  BackgroundWorker& operator=(const BackgroundWorker&) = delete;

  // Adds a job before start(); interval_ms > 0.
  void add_job(std::string name, int64_t interval_ms, Job job);
  // Runs every job due at the clock's now, in the order they were added; returns how many ran.
  int run_due();
  // Runs the named job now, whether due or not (false: no such job).
  bool run_now(const std::string& name);
  // Clock time at which the next job is due.
  int64_t next_due_ms() const;
  std::vector<JobStats> stats() const;

  // Marks the named job due now and wakes the thread (false: no such job). Does not wait.
  bool request(const std::string& name);

  // The thread sleeps until the next job is due (real time: the clock must count real
  // milliseconds when the thread is used), a request() or stop().
  void start();
  void stop();

 private:
  struct Entry {
    JobStats stats;
    Job job;
    int64_t due_ms = 0;
    bool due_now = true;  // never run yet, or asked for by run_now
  };
  void run_entry(size_t i);
  void loop();

  const Clock& clock_;
  mutable std::mutex mu_;     // guards entries_' stats and schedule, stop_, wake_
  std::mutex run_mu_;         // one job at a time (the thread, run_due and run_now)
  std::condition_variable cv_;
  std::vector<Entry> entries_;
  bool stop_ = false, wake_ = false;
  std::thread thread_;
};

}  // namespace hangar::manager
