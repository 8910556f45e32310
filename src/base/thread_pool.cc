// ThreadPool: spin-then-sleep workers that join jobs by generation.
#include "base/thread_pool.h"

#include <fstream>
#include <set>
#include <string>
#include <utility>

#include "base/assert.h"

namespace hangar {
namespace {
constexpr int kSpinIterations = 1 << 16;  // ~50-100 us of spinning before sleeping

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}
}  // namespace

ThreadPool::ThreadPool(int n_threads) : n_threads_(n_threads < 1 ? 1 : n_threads) {
  for (int i = 1; i < n_threads_; ++i) workers_.emplace_back([this, i] { worker_loop(i); });
}

ThreadPool::~ThreadPool() {
  stop_.store(true);
  generation_.fetch_add(1);
  generation_.notify_all();
  for (auto& t : workers_) t.join();
}

void ThreadPool::worker_loop(int ith) {
  uint32_t seen = 0;
  for (;;) {
    uint32_t gen = generation_.load(std::memory_order_acquire);
    for (int spin = 0; gen == seen && spin < kSpinIterations; ++spin) {
      cpu_relax();
      gen = generation_.load(std::memory_order_acquire);
    }
    if (gen == seen) {
      generation_.wait(seen, std::memory_order_acquire);
      continue;
    }
    seen = gen;
    if (stop_.load()) return;
    // Join generation `gen` if it is still open; a stale or closed job is skipped.
    uint64_t s = state_.load(std::memory_order_acquire);
    bool joined = false;
    while ((s >> 32) == gen && !(s & kClosed)) {
      if (state_.compare_exchange_weak(s, s + 1, std::memory_order_acq_rel)) {
        joined = true;
        break;
      }
    }
    if (!joined) continue;
    (*job_)(ith);
    done_.fetch_add(1, std::memory_order_acq_rel);
  }
}

void ThreadPool::dispatch(const std::function<void(int)>& job, bool closable) {
  std::lock_guard<std::mutex> lock(run_mutex_);
  const uint32_t gen = generation_.load(std::memory_order_relaxed) + 1;
  job_ = &job;
  done_.store(0, std::memory_order_relaxed);
  state_.store(static_cast<uint64_t>(gen) << 32, std::memory_order_release);
  generation_.store(gen, std::memory_order_release);
  generation_.notify_all();
  job(0);
  int joined;
  if (closable) {
    joined = static_cast<int>(state_.fetch_or(kClosed, std::memory_order_acq_rel) & (kClosed - 1));
  } else {
    // Every worker must run its share: wait until all have joined.
    while ((state_.load(std::memory_order_acquire) & (kClosed - 1)) < static_cast<uint64_t>(n_threads_ - 1))
      cpu_relax();
    joined = n_threads_ - 1;
  }
  while (done_.load(std::memory_order_acquire) < joined) cpu_relax();
  job_ = nullptr;
}

void ThreadPool::run(const std::function<void(int, int)>& fn) {
  if (n_threads_ == 1) {
    fn(0, 1);
    return;
  }
  const int nth = n_threads_;
  dispatch([&](int ith) { fn(ith, nth); }, /*closable=*/false);
}

void ThreadPool::parallel_for(int64_t n, int64_t grain,
                              const std::function<void(int64_t, int64_t, int)>& fn) {
  if (n <= 0) return;
  if (grain < 1) grain = 1;
  if (n_threads_ == 1 || n <= grain) {
    fn(0, n, 0);
    return;
  }
  std::atomic<int64_t> next{0};
  dispatch(
      [&](int ith) {
        for (;;) {
          int64_t begin = next.fetch_add(grain, std::memory_order_relaxed);
          if (begin >= n) break;
          fn(begin, std::min(n, begin + grain), ith);
        }
      },
      /*closable=*/true);
}

int ThreadPool::physical_cores() {
  // Count distinct (physical id, core id) pairs; fall back to logical CPUs.
  std::ifstream in("/proc/cpuinfo");
  std::set<std::pair<std::string, std::string>> cores;
  std::string line, phys = "0";
  while (std::getline(in, line)) {
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string key = line.substr(0, line.find_last_not_of(" \t", colon - 1) + 1);
    std::string val = colon + 2 <= line.size() ? line.substr(colon + 2) : "";
    if (key == "physical id") phys = val;
    if (key == "core id") cores.insert({phys, val});
  }
  int logical = static_cast<int>(std::thread::hardware_concurrency());
  if (cores.empty()) return logical > 0 ? logical : 1;
  return static_cast<int>(cores.size());
}

}  // namespace hangar
