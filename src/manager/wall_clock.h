// WallClock: milliseconds since the Unix epoch, for timestamps that must mean the same after
// a restart (the registry's last access). Tests pass a fake Clock instead.
#pragma once

#include <chrono>

#include "base/clock.h"

namespace hangar::manager {

class WallClock final : public Clock {
 public:
  int64_t now_ms() const override {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
};

}  // namespace hangar::manager
