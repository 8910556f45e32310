// ThreadPool: a persistent fork-join pool for compute kernels (one job at a time, low latency).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace hangar {

// Runs one job at a time on its threads; the calling thread takes part as thread 0. Workers spin
// briefly after a job (decode issues thousands of small jobs per second) and then sleep on a
// futex, so an idle pool costs no CPU. Jobs are serialised by a mutex, so several engine threads
// may share one pool without oversubscribing the cores. Thread-safe.
class ThreadPool {
 public:
  // n_threads >= 1 counts the caller; n_threads - 1 workers are started.
  explicit ThreadPool(int n_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return n_threads_; }

  // Calls fn(ith, nth) once on each of the nth = size() threads and returns when all are done.
  // Every thread must take part, so a descheduled worker delays the job: prefer parallel_for.
  // Must not be called from inside a job.
  void run(const std::function<void(int ith, int nth)>& fn);

  // Splits [0, n) into chunks of `grain` items handed out dynamically and calls
  // fn(begin, end, ith) for each. Workers that have not joined by the time the caller runs out
  // of chunks are not waited for, so one descheduled thread on a busy machine cannot stall the
  // job. `ith` < size() is unique among threads running at once (for per-thread scratch).
  void parallel_for(int64_t n, int64_t grain,
                    const std::function<void(int64_t begin, int64_t end, int ith)>& fn);

  // Number of physical cores of this machine (logical CPUs when that cannot be read).
  static int physical_cores();

 private:
  // state_ packs the job's generation (high 32 bits), a closed flag and the count of workers
  // that joined it; a worker joins only the generation it saw, and only while it is open.
  static constexpr uint64_t kClosed = uint64_t{1} << 31;
  void worker_loop(int ith);
  void dispatch(const std::function<void(int)>& job, bool closable);

  int n_threads_;
  std::vector<std::thread> workers_;
  std::mutex run_mutex_;
  const std::function<void(int)>* job_ = nullptr;
  std::atomic<uint32_t> generation_{0};
  std::atomic<uint64_t> state_{0};
  std::atomic<int> done_{0};
  std::atomic<bool> stop_{false};
};

}  // namespace hangar
