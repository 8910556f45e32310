// FaultGuard: a file mapping whose file is truncated under it reads zeros instead of killing
// the process with SIGBUS.
#pragma once

#include <cstddef>

namespace hangar {

// While a guard lives, a SIGBUS at an address inside its range (the mapped file shrank, e.g.
// `cp new.gguf models/x.gguf` truncates x.gguf in place) is absorbed: the handler maps zero
// pages from the faulting page to the end of the range, marks the guard, and the access is
// retried. Whoever owns the mapping checks faulted() and stops trusting its contents. A SIGBUS
// anywhere else goes to the previous handler (or kills the process as before).
//
// The handler is installed once per process on first use and finds guards in a fixed table of
// kMaxGuards slots (a signal handler cannot take locks or allocate); a guard that finds the
// table full guards nothing (faulted() stays false and a fault kills the process as without it).
// Construction and destruction are thread-safe; not copyable or movable.
class FaultGuard {
 public:
  static constexpr int kMaxGuards = 1024;

  FaultGuard(const void* begin, size_t size);
  ~FaultGuard();
  FaultGuard(const FaultGuard&) = delete;
  FaultGuard& operator=(const FaultGuard&) = delete;

  // True once a fault inside the range was absorbed.
  bool faulted() const;
  bool active() const { return slot_ >= 0; }

 private:
  int slot_ = -1;
};

}  // namespace hangar
