// StopMatcher: finds stop strings in streamed text without emitting text that may become one.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace hangar {

// Feed each new piece of generated text to push(); it returns what may be shown now and holds
// back the longest suffix that could still grow into a stop string. Matching is byte-wise.
//
// The stop is the first stop string to complete in the stream (ties: the longest), which makes
// the result independent of how the text was split into pieces. The match and anything after
// it are never emitted. Empty stop strings are ignored. Thread-compatible.
class StopMatcher {
 public:
  explicit StopMatcher(std::vector<std::string> stops);

  struct Step {
    std::string emit;     // text that can be shown now
    bool stopped = false; // a stop string matched (now or in an earlier push)
    std::string matched;  // which one, when stopped
  };

  // Returns the text that can be emitted now. After a stop, returns an empty emit with
  // stopped set and ignores the text.
  Step push(std::string_view text);

  // At end of generation: returns the held-back text (empty after a stop) and clears it.
  std::string flush();

  bool stopped() const { return stopped_; }
  // The longest text push() may hold back: the longest stop string's length minus one.
  size_t max_held() const { return max_held_; }

 private:
  std::vector<std::string> stops_;
  std::string held_;
  bool stopped_ = false;
  std::string matched_;
  size_t max_held_ = 0;
};

}  // namespace hangar
