// Progress: one status line for long CLI work, redrawn in place on a terminal, silent otherwise.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <string_view>

#include "base/clock.h"

namespace hangar {

// Whether stderr is a terminal (where a redrawn progress line belongs).
bool stderr_is_terminal();

// A progress line such as
//   quantize [#######.............]  35%  120.0/342.9 MiB  40.1 MiB/s  ETA 0:06  tensor 14/39
// drawn with a leading \r so each redraw replaces the last. Redraws are rate-limited (at most
// one per redraw_ms of `clock`), so callers may report as often as they like. When `terminal`
// is false (output to a file or pipe, or --quiet) it writes nothing at all: logs stay clean.
// Not thread-safe: one thread reports.
class Progress {
 public:
  enum class Unit { kCount, kBytes };

  Progress(const Clock& clock, std::ostream& out, bool terminal, std::string label, Unit unit = Unit::kCount,
           int64_t redraw_ms = 250);
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  // Units of the whole job; 0 (the default): unknown, so no bar, percentage or ETA.
  void set_total(double total) { total_ = total; }
  // `done` units so far (rate and ETA are measured from construction on), and a note shown
  // after the figures ("tensor 14/39", "ppl 7.21"). `now`: draw whatever the rate limit says,
  // for a new stage that will run a while without updates ("tg128 run 2/3").
  void update(double done, std::string_view note = {}, bool now = false);
  // Erases the drawn line so other output can be printed; the next update() redraws at once.
  void clear();
  // Erases the line for good (the caller prints its summary); also done by the destructor, so an
  // error message never lands after half a progress line.
  void finish();

  // The line for a state, without \r (pure, for tests): `elapsed_ms` since the start.
  std::string line(double done, std::string_view note, int64_t elapsed_ms) const;

  // Milliseconds left at the average rate so far; -1 when unknown (no total, nothing done yet).
  static int64_t eta_ms(double done, double total, int64_t elapsed_ms);
  // "0:07", "12:34", "1:02:03".
  static std::string format_duration(int64_t ms);

 private:
  void draw(int64_t now);

  const Clock& clock_;
  std::ostream& out_;
  const bool terminal_;
  const std::string label_;
  const Unit unit_;
  const int64_t redraw_ms_;
  const int64_t start_ms_;
  double total_ = 0;
  double done_ = 0;
  std::string note_;
  int64_t last_draw_ms_ = 0;
  bool drawn_ = false;     // something is on the line now
  bool force_ = true;      // the next update draws whatever the rate limit says
  bool finished_ = false;
};

}  // namespace hangar
