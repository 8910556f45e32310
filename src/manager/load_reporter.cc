// LoadReporter: stage and byte progress, rate-limited, monotonic, logged when a load is long.
#include "manager/load_reporter.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "base/log.h"
#include "manager/units.h"

namespace hangar::manager {

LoadReporter::LoadReporter(const Clock& clock, const LoadProgress& progress, std::string model_id, int64_t every_ms,
                           int64_t log_every_ms)
    : clock_(clock),
      progress_(progress),
      id_(std::move(model_id)),
      every_ms_(every_ms),
      log_every_ms_(log_every_ms),
      start_ms_(clock.now_ms()),
      last_report_ms_(start_ms_),
      last_log_ms_(start_ms_) {}

void LoadReporter::report(double fraction) {
  fraction_ = std::max(fraction_, std::clamp(fraction, 0.0, 1.0));
  last_report_ms_ = clock_.now_ms();
  if (progress_) progress_(fraction_, stage_);
}

void LoadReporter::stage(double fraction, std::string_view name) {
  stage_.assign(name);
  report(fraction);
}

void LoadReporter::bytes(double from, double to, uint64_t done, uint64_t total) {
  const int64_t now = clock_.now_ms();
  const bool report_now = now - last_report_ms_ >= every_ms_;
  const bool log_now = now - last_log_ms_ >= log_every_ms_;
  if (!report_now && !log_now) return;
  const double part = total > 0 ? std::min(1.0, double(done) / double(total)) : 1.0;
  if (report_now) report(from + (to - from) * part);
  if (log_now) {
    last_log_ms_ = now;
    log_info("loading model '" + id_ + "': " + stage_ + ", " + format_bytes(done) + " of " + format_bytes(total) +
             " (" + std::to_string(static_cast<int>(std::lround(100 * part))) + "%), " +
             std::to_string((now - start_ms_) / 1000) + " s so far");
  }
}

ByteProgress LoadReporter::span(double from, double to) {
  return [this, from, to](uint64_t done, uint64_t total) { bytes(from, to, done, total); };
}

}  // namespace hangar::manager
