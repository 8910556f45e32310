// StopMatcher: first-to-complete stop-string matching over streamed text with a held-back tail.
#include "sampling/stop_matcher.h"

#include <algorithm>
#include <utility>

namespace hangar {

StopMatcher::StopMatcher(std::vector<std::string> stops) {
  for (std::string& s : stops) {
    if (s.empty()) continue;
    max_held_ = std::max(max_held_, s.size() - 1);
    stops_.push_back(std::move(s));
  }
}

StopMatcher::Step StopMatcher::push(std::string_view text) {
  Step step;
  if (stopped_) {
    step.stopped = true;
    step.matched = matched_;
    return step;
  }
  held_.append(text);
  // held_ is at most max_held_ bytes plus the new piece, so these scans stay short. The old
  // held part contained no complete match, so the earliest end found here is the stream's.
  size_t best_end = std::string::npos;
  const std::string* best = nullptr;
  for (const std::string& s : stops_) {
    const size_t pos = held_.find(s);
    if (pos == std::string::npos) continue;
    const size_t end = pos + s.size();
    if (end < best_end || (end == best_end && s.size() > best->size())) {
      best_end = end;
      best = &s;
    }
  }
  if (best != nullptr) {
    stopped_ = true;
    matched_ = *best;
    step.emit = held_.substr(0, best_end - best->size());
    step.stopped = true;
    step.matched = matched_;
    held_.clear();
    return step;
  }
  // Hold back the longest suffix that is a proper prefix of some stop string.
  size_t hold = 0;
  for (const std::string& s : stops_) {
    for (size_t len = std::min(s.size() - 1, held_.size()); len > hold; --len) {
      if (std::string_view(held_).substr(held_.size() - len) == std::string_view(s).substr(0, len)) {
        hold = len;
        break;
      }
    }
  }
  step.emit = held_.substr(0, held_.size() - hold);
  held_.erase(0, held_.size() - hold);
  return step;
}

std::string StopMatcher::flush() {
  std::string out;
  out.swap(held_);
  return out;
}

}  // namespace hangar
