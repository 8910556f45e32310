// Profiler: accumulation and the printed breakdown.
#include "base/profiler.h"

#include <algorithm>
#include <cstdio>

namespace hangar {

void Profiler::add(std::string_view name, double seconds, int64_t calls) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = entries_.find(name);
  if (it == entries_.end()) it = entries_.emplace(std::string(name), Entry{std::string(name)}).first;
  it->second.seconds += seconds;
  it->second.calls += calls;
}

std::vector<Profiler::Entry> Profiler::entries() const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<Entry> out;
  for (const auto& [name, e] : entries_) out.push_back(e);
  std::sort(out.begin(), out.end(), [](const Entry& a, const Entry& b) { return a.seconds > b.seconds; });
  return out;
}

double Profiler::total_seconds() const {
  double t = 0;
  for (const auto& e : entries()) t += e.seconds;
  return t;
}

std::string Profiler::report() const {
  auto es = entries();
  double total = 0;
  for (const auto& e : es) total += e.seconds;
  std::string out;
  char line[256];
  std::snprintf(line, sizeof line, "%-28s %11s %7s %10s %12s\n", "op", "total ms", "share", "calls",
                "us/call");
  out += line;
  for (const auto& e : es) {
    std::snprintf(line, sizeof line, "%-28s %11.2f %6.1f%% %10lld %12.2f\n", e.name.c_str(),
                  e.seconds * 1e3, total > 0 ? 100.0 * e.seconds / total : 0.0,
                  static_cast<long long>(e.calls), e.calls ? e.seconds * 1e6 / e.calls : 0.0);
    out += line;
  }
  return out;
}

void Profiler::reset() {
  std::lock_guard<std::mutex> lock(mutex_);
  entries_.clear();
}

}  // namespace hangar
