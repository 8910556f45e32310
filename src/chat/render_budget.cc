// RenderBudget: step, memory, output and time accounting for one template render.
#include "chat/render_budget.h"

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>

#include "chat/render_error.h"

namespace hangar::chat {
namespace {

// Clock reads are cheap (vDSO) but not free; these keep them to one per few microseconds of
// work while bounding how far a render can run past its time budget.
constexpr int64_t kStepsPerClockRead = 256;
constexpr size_t kWorkPerClockRead = size_t{256} << 10;

thread_local RenderBudget* t_current = nullptr;

std::string megabytes(size_t bytes) {
  const size_t mb = bytes >> 20;
  return mb > 0 ? std::to_string(mb) + " MB" : std::to_string(bytes) + " bytes";
}

}  // namespace

void MemoryMeter::fail(size_t needed) const {
  exceeded_ = true;
  throw RenderError("template exceeded its memory budget of " + megabytes(limit_) + " (it needed " +
                    (needed == SIZE_MAX ? std::string("more") : std::to_string(needed) + " bytes") + ")");
}

void MemoryMeter::charge(size_t bytes) {
  const size_t live = live_.load(std::memory_order_relaxed);
  if (bytes > limit_ || live > limit_ - bytes) fail(bytes > SIZE_MAX - live ? SIZE_MAX : live + bytes);
  live_.store(live + bytes, std::memory_order_relaxed);
  if (live + bytes > peak_) peak_ = live + bytes;
}

void MemoryMeter::reserve(size_t bytes) const {
  const size_t live = live_.load(std::memory_order_relaxed);
  if (bytes > limit_ || live > limit_ - bytes) fail(bytes > SIZE_MAX - live ? SIZE_MAX : live + bytes);
}

RenderBudget::RenderBudget(const RenderLimits& limits)
    : limits_(limits), meter_(std::make_shared<MemoryMeter>(limits.max_memory_bytes)) {
  start_ms_ = now_ms();
  next_clock_step_ = kStepsPerClockRead;
  next_clock_work_ = kWorkPerClockRead;
}

RenderBudget* RenderBudget::current() { return t_current; }

RenderBudget::Scope::Scope(RenderBudget* budget) : previous_(t_current) { t_current = budget; }
RenderBudget::Scope::~Scope() { t_current = previous_; }

int64_t RenderBudget::now_ms() const {
  if (limits_.clock != nullptr) return limits_.clock->now_ms();
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void RenderBudget::count_steps(int64_t n) {
  // A negative count is a caller's overflow; treat it as the whole budget.
  if (n < 0 || n > limits_.max_steps - steps_) {
    fail_limit("template exceeded its step budget of " + std::to_string(limits_.max_steps) +
               " (infinite or very large loop?)");
  }
  steps_ += n;
  if (steps_ >= next_clock_step_) check_clock();
}

void RenderBudget::check_clock() {
  next_clock_step_ = steps_ + kStepsPerClockRead;
  next_clock_work_ = work_ + kWorkPerClockRead;
  const double elapsed = static_cast<double>(now_ms() - start_ms_) / 1000.0;
  if (elapsed > limits_.max_seconds) {
    char seconds[32];
    std::snprintf(seconds, sizeof(seconds), "%g", limits_.max_seconds);
    fail_limit(std::string("template rendering exceeded its time budget of ") + seconds + " s");
  }
}

void RenderBudget::charge_output(size_t bytes) {
  if (bytes > limits_.max_output_bytes || output_bytes_ > limits_.max_output_bytes - bytes) {
    fail_limit("template output exceeded its budget of " + megabytes(limits_.max_output_bytes));
  }
  output_bytes_ += bytes;
  add_work(bytes);
}

RenderStats RenderBudget::stats() const {
  return RenderStats{steps_, output_bytes_, meter_->peak(), exceeded_ || meter_->exceeded()};
}

void RenderBudget::fail_limit(const std::string& what) {
  exceeded_ = true;
  throw RenderError(what);
}

}  // namespace hangar::chat
