// Profiler: named time counters for a per-op breakdown (`bench --profile`, `serve --profile`).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace hangar {

// Thread-safe accumulation of seconds and call counts per name. Callers hold a Profiler* that is
// null when profiling is off, so the cost when off is one pointer test.
class Profiler {
 public:
  struct Entry {
    std::string name;
    double seconds = 0;
    int64_t calls = 0;
  };

  void add(std::string_view name, double seconds, int64_t calls = 1);
  // Entries sorted by total time, largest first.
  std::vector<Entry> entries() const;
  double total_seconds() const;
  // A table: name, total ms, share of total, calls, mean us per call.
  std::string report() const;
  void reset();

 private:
  mutable std::mutex mutex_;
  std::map<std::string, Entry, std::less<>> entries_;
};

// Times a scope into `profiler` under `name` (a string that outlives the scope); no-op when null.
class ProfileScope {
 public:
  ProfileScope(Profiler* profiler, std::string_view name) : profiler_(profiler), name_(name) {
    if (profiler_) start_ = std::chrono::steady_clock::now();
  }
  ~ProfileScope() {
    if (profiler_)
      profiler_->add(name_, std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count());
  }
  ProfileScope(const ProfileScope&) = delete;
  ProfileScope& operator=(const ProfileScope&) = delete;

 private:
  Profiler* profiler_;
  std::string_view name_;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace hangar
