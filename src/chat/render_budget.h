// RenderBudget: what one template render may spend (steps, live memory, output, time), and the
// MemoryMeter that the strings and containers it creates report their bytes to.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "base/clock.h"

namespace hangar::chat {

// Budgets for one render; exceeding one is a RenderError naming the budget, never a crash,
// a hang or an allocation the budget did not allow.
struct RenderLimits {
  int64_t max_steps = 10'000'000;              // statements, loop iterations, elements made
  size_t max_output_bytes = size_t{32} << 20;  // all text written, captured blocks and macros included
  size_t max_memory_bytes = size_t{64} << 20;  // strings and containers the render holds at once
  int max_call_depth = 64;                     // nested macro and caller() calls
  int64_t max_range = 1'000'000;               // elements range() may produce
  // Wall-clock budget. The clock is read every few hundred steps and every few hundred KB of
  // string work, so one slow operation cannot run far past it.
  double max_seconds = 5.0;
  const Clock* clock = nullptr;  // the time source; nullptr means the steady clock
};

// Live bytes of the strings and containers one render made. Shared with those values so one
// that outlives the render (kept in the caller's globals) can still give its bytes back.
class MemoryMeter {
 public:
  explicit MemoryMeter(size_t limit) : limit_(limit) {}
  // Throws RenderError when `bytes` more would pass the limit.
  void charge(size_t bytes);
  void release(size_t bytes) { live_.fetch_sub(bytes, std::memory_order_relaxed); }
  // Throws RenderError unless a transient buffer of `bytes` fits beside what is live.
  void reserve(size_t bytes) const;
  size_t live() const { return live_.load(std::memory_order_relaxed); }
  size_t peak() const { return peak_; }
  size_t limit() const { return limit_; }
  bool exceeded() const { return exceeded_; }

 private:
  [[noreturn]] void fail(size_t needed) const;

  std::atomic<size_t> live_{0};
  size_t peak_ = 0;
  const size_t limit_;
  mutable bool exceeded_ = false;
};

// What a finished (or failed) render spent; tests and the fuzzer check these stay in budget.
struct RenderStats {
  int64_t steps = 0;
  size_t output_bytes = 0;
  size_t peak_memory_bytes = 0;
  bool exceeded_limit = false;  // the render failed on a budget, not on the template's own error
};

// The budget of one render. While a render runs, its budget is reachable from the Value code
// on that thread (RenderBudget::current()): values are created in hundreds of places that
// never see the interpreter, and each must be charged. Only Interpreter::render installs one.
class RenderBudget {
 public:
  explicit RenderBudget(const RenderLimits& limits);
  RenderBudget(const RenderBudget&) = delete;
  RenderBudget& operator=(const RenderBudget&) = delete;

  // The budget of the render running on this thread, or nullptr outside a render.
  static RenderBudget* current();

  // Accounts for `n` units of interpreter work (statements, iterations, elements).
  void count_steps(int64_t n);
  // Accounts for touching `units` bytes or elements; only paces the clock reads.
  void add_work(size_t units) {
    work_ += units;
    if (work_ >= next_clock_work_) check_clock();
  }
  // Accounts for `bytes` more of written text (the output and captured blocks together).
  void charge_output(size_t bytes);
  // Throws unless a transient buffer of `bytes` fits in the memory budget.
  void reserve(size_t bytes) const { meter_->reserve(bytes); }
  const std::shared_ptr<MemoryMeter>& meter() const { return meter_; }
  const RenderLimits& limits() const { return limits_; }
  RenderStats stats() const;
  // Throws RenderError(`what`) and records that a limit, not the template, ended the render.
  [[noreturn]] void fail_limit(const std::string& what);

  // Installs `budget` as this thread's current one until destroyed (nesting restores).
  class Scope {
   public:
    explicit Scope(RenderBudget* budget);
    ~Scope();
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;

   private:
    RenderBudget* previous_;
  };

 private:
  void check_clock();
  int64_t now_ms() const;

  RenderLimits limits_;
  std::shared_ptr<MemoryMeter> meter_;
  int64_t start_ms_;
  int64_t steps_ = 0;
  int64_t next_clock_step_ = 0;
  size_t work_ = 0;
  size_t next_clock_work_ = 0;
  size_t output_bytes_ = 0;
  bool exceeded_ = false;
};

// Charges work to the current render, if any: for Value code that loops over elements.
inline void note_render_work(size_t units) {
  if (RenderBudget* b = RenderBudget::current()) b->add_work(units);
}

// Throws if the current render, if any, has no room for a transient buffer of `bytes`.
inline void reserve_render_memory(size_t bytes) {
  if (RenderBudget* b = RenderBudget::current()) b->reserve(bytes);
}

}  // namespace hangar::chat
