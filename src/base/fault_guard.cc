// FaultGuard: the SIGBUS handler and its table of guarded ranges.
#include "base/fault_guard.h"

#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <mutex>

namespace hangar {
namespace {

// One guarded range. A slot is claimed with `state` 0 -> 1 (being set up), published as 2;
// the handler reads only published slots. Plain atomics: the handler must not lock.
struct Slot {
  std::atomic<int> state{0};
  std::atomic<uintptr_t> begin{0}, end{0};
  std::atomic<bool> faulted{false};
};

// The process-wide table a signal handler needs (there is no other way to reach it from a
// handler); it holds ranges only, owned by the FaultGuards that registered them.
Slot g_slots[FaultGuard::kMaxGuards];
struct sigaction g_previous {};
std::once_flag g_install_once;

void on_sigbus(int sig, siginfo_t* info, void* context) {
  const auto addr = reinterpret_cast<uintptr_t>(info->si_addr);
  for (Slot& s : g_slots) {
    if (s.state.load(std::memory_order_acquire) != 2) continue;
    const uintptr_t begin = s.begin.load(std::memory_order_relaxed), end = s.end.load(std::memory_order_relaxed);
    if (addr < begin || addr >= end) continue;
    const uintptr_t page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
    const uintptr_t from = addr / page * page;
    // Zero pages over the rest of the range: later reads of it need no further signals.
    void* p = ::mmap(reinterpret_cast<void*>(from), end - from, PROT_READ,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    if (p != MAP_FAILED) {
      s.faulted.store(true, std::memory_order_release);
      return;  // the faulting access is retried and reads zero
    }
    break;
  }
  // Not ours: behave as if this handler were not there.
  if (g_previous.sa_flags & SA_SIGINFO) {
    if (g_previous.sa_sigaction) return g_previous.sa_sigaction(sig, info, context);
  } else if (g_previous.sa_handler != SIG_DFL && g_previous.sa_handler != SIG_IGN) {
    return g_previous.sa_handler(sig);
  }
  signal(SIGBUS, SIG_DFL);  // returning re-runs the access, which now kills the process
}

void install() {
  struct sigaction sa {};
  sa.sa_sigaction = on_sigbus;
  sa.sa_flags = SA_SIGINFO | SA_NODEFER;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGBUS, &sa, &g_previous);
}

}  // namespace

FaultGuard::FaultGuard(const void* begin, size_t size) {
  if (begin == nullptr || size == 0) return;
  std::call_once(g_install_once, install);
  for (int i = 0; i < kMaxGuards; ++i) {
    int expected = 0;
    if (!g_slots[i].state.compare_exchange_strong(expected, 1)) continue;
    g_slots[i].begin.store(reinterpret_cast<uintptr_t>(begin), std::memory_order_relaxed);
    g_slots[i].end.store(reinterpret_cast<uintptr_t>(begin) + size, std::memory_order_relaxed);
    g_slots[i].faulted.store(false, std::memory_order_relaxed);
    g_slots[i].state.store(2, std::memory_order_release);
    slot_ = i;
    return;
  }
}

FaultGuard::~FaultGuard() {
  if (slot_ >= 0) g_slots[slot_].state.store(0, std::memory_order_release);
}

bool FaultGuard::faulted() const {
  return slot_ >= 0 && g_slots[slot_].faulted.load(std::memory_order_acquire);
}

}  // namespace hangar
