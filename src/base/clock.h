// Clock and WallClock: injectable time sources (tests pass fakes), and a monotonic stopwatch.
#pragma once

#include <chrono>
#include <cstdint>

namespace hangar {

// Milliseconds on a monotonic scale, for durations, timeouts and keep-alive: it never jumps
// when the system clock is set. The manager and scheduler take a Clock& so tests can drive
// time without sleeping.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual int64_t now_ms() const = 0;
};

class SteadyClock final : public Clock {
 public:
  int64_t now_ms() const override {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }
};

// Milliseconds since the Unix epoch: the time to show and to record (the registry's last
// access, a model's creation time), which must mean the same after a restart. It jumps when
// the system clock is set, so it is never used to measure a duration. A separate type from
// Clock, so that one cannot be passed where the other is expected.
class WallClock {
 public:
  virtual ~WallClock() = default;
  virtual int64_t now_unix_ms() const = 0;
};

class SystemWallClock final : public WallClock {
 public:
  int64_t now_unix_ms() const override {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
};

// Wall-clock seconds since the epoch, for persisted timestamps.
inline int64_t unix_time_s() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Measures elapsed time with the steady clock.
class Stopwatch {
 public:
  Stopwatch() : start_(std::chrono::steady_clock::now()) {}
  void reset() { start_ = std::chrono::steady_clock::now(); }
  double elapsed_s() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  }
  double elapsed_ms() const { return elapsed_s() * 1e3; }

 private:
  std::chrono::steady_clock::time_point start_;
};

}  // namespace hangar
