// LoadReporter: a model load's progress as rate-limited LoadProgress calls and serve log lines.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "base/clock.h"
#include "base/mapped_file.h"
#include "manager/model_loader.h"

namespace hangar::manager {

// The loader reads gigabytes in chunks and tells this object each one: the subscribers of the
// event stream get at most one "loading" event per every_ms (plus one at each stage), and the
// log gets a line every log_every_ms of a long load, so neither floods. Fractions never go
// back. Used on the loading thread only; nothing here is on the per-token path.
class LoadReporter {
 public:
  LoadReporter(const Clock& clock, const LoadProgress& progress, std::string model_id, int64_t every_ms = 250,
               int64_t log_every_ms = 5000);

  // A stage begins at `fraction` of the whole load: always reported.
  void stage(double fraction, std::string_view name);
  // Reports bytes `done` of `total` for a stage that spans [from, to] of the whole load.
  void bytes(double from, double to, uint64_t done, uint64_t total);
  // A ByteProgress for a stage spanning [from, to] (valid while this object lives).
  ByteProgress span(double from, double to);

  double fraction() const { return fraction_; }

 private:
  void report(double fraction);

  const Clock& clock_;
  const LoadProgress& progress_;
  const std::string id_;
  const int64_t every_ms_, log_every_ms_;
  const int64_t start_ms_;
  int64_t last_report_ms_;
  int64_t last_log_ms_;
  double fraction_ = 0;
  std::string stage_;
};

}  // namespace hangar::manager
