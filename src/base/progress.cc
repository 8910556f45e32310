// Progress: the rate-limited, terminal-only progress line.
#include "base/progress.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <utility>

namespace hangar {

bool stderr_is_terminal() { return ::isatty(STDERR_FILENO) == 1; }

namespace {

constexpr int kBarWidth = 20;

std::string fixed(double v, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.*f", decimals, v);
  return buf;
}

// Bytes in the binary unit that keeps the figure readable: "512 B", "3.4 MiB", "1.20 GiB".
std::string bytes_text(double b) {
  if (b < 1024) return fixed(b, 0) + " B";
  if (b < 1024.0 * 1024) return fixed(b / 1024, 1) + " KiB";
  if (b < 1024.0 * 1024 * 1024) return fixed(b / (1024.0 * 1024), 1) + " MiB";
  return fixed(b / (1024.0 * 1024 * 1024), 2) + " GiB";
}

}  // namespace

Progress::Progress(const Clock& clock, std::ostream& out, bool terminal, std::string label, Unit unit,
                   int64_t redraw_ms)
    : clock_(clock),
      out_(out),
      terminal_(terminal),
      label_(std::move(label)),
      unit_(unit),
      redraw_ms_(redraw_ms),
      start_ms_(clock.now_ms()) {}

Progress::~Progress() { finish(); }

int64_t Progress::eta_ms(double done, double total, int64_t elapsed_ms) {
  if (total <= 0 || done <= 0 || elapsed_ms <= 0) return -1;
  if (done >= total) return 0;
  return static_cast<int64_t>(std::llround(double(elapsed_ms) * (total - done) / done));
}

std::string Progress::format_duration(int64_t ms) {
  const int64_t s = std::max<int64_t>(ms, 0) / 1000;
  char buf[48];
  if (s >= 3600)
    std::snprintf(buf, sizeof(buf), "%lld:%02lld:%02lld", static_cast<long long>(s / 3600),
                  static_cast<long long>(s / 60 % 60), static_cast<long long>(s % 60));
  else
    std::snprintf(buf, sizeof(buf), "%lld:%02lld", static_cast<long long>(s / 60), static_cast<long long>(s % 60));
  return buf;
}

std::string Progress::line(double done, std::string_view note, int64_t elapsed_ms) const {
  auto amount = [&](double v) { return unit_ == Unit::kBytes ? bytes_text(v) : fixed(v, 0); };
  std::string s = label_;
  if (total_ > 0) {
    const double frac = std::clamp(done / total_, 0.0, 1.0);
    const int filled = static_cast<int>(frac * kBarWidth);
    s += " [" + std::string(filled, '#') + std::string(kBarWidth - filled, '.') + "] ";
    std::string pct = fixed(100 * frac, 0);
    s += std::string(pct.size() < 3 ? 3 - pct.size() : 0, ' ') + pct + "%  ";
    s += unit_ == Unit::kBytes ? bytes_text(done) + "/" + bytes_text(total_) : amount(done) + "/" + amount(total_);
  } else {
    s += "  " + amount(done);
  }
  if (elapsed_ms > 0 && done > 0) {
    const double rate = done * 1000.0 / double(elapsed_ms);
    s += "  " + (unit_ == Unit::kBytes ? bytes_text(rate) : fixed(rate, rate < 10 ? 2 : 1)) + "/s";
  }
  if (const int64_t eta = eta_ms(done, total_, elapsed_ms); eta >= 0) s += "  ETA " + format_duration(eta);
  if (!note.empty()) s += "  " + std::string(note);
  return s;
}

void Progress::update(double done, std::string_view note, bool now_please) {
  if (!terminal_ || finished_) return;
  done_ = done;
  note_.assign(note);
  const int64_t now = clock_.now_ms();
  if (force_ || now_please || now - last_draw_ms_ >= redraw_ms_) draw(now);
}

void Progress::draw(int64_t now) {
  // \x1b[K blanks what a longer previous line left to the right.
  out_ << '\r' << line(done_, note_, now - start_ms_) << "\x1b[K" << std::flush;
  last_draw_ms_ = now;
  drawn_ = true;
  force_ = false;
}

void Progress::clear() {
  if (!terminal_) return;
  if (drawn_) out_ << "\r\x1b[K" << std::flush;
  drawn_ = false;
  force_ = true;
}

void Progress::finish() {
  clear();
  finished_ = true;
}

}  // namespace hangar
