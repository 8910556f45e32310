// ThreadPool: a persistent fork-join pool for compute kernels (one job at a time, low latency).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace hangar {

// Runs one job on all of its threads at once; the calling thread takes part as thread 0.
// Workers spin briefly after a job (decode issues thousands of small jobs per second) and then
// sleep on a futex, so an idle pool costs no CPU. run() calls are serialised by a mutex, so
// several engine threads may share one pool without oversubscribing the cores.
class ThreadPool {
 public:
  // n_threads >= 1 counts the caller; n_threads - 1 workers are started.
  explicit ThreadPool(int n_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return n_threads_; }

  // Calls fn(ith, nth) once on each of the nth = size() threads and returns when all are done.
  // Must not be called from inside a job.
  void run(const std::function<void(int ith, int nth)>& fn);

  // Splits [0, n) into chunks of `grain` items handed out dynamically (so a slow core does not
  // hold the others back) and calls fn(begin, end, ith) for each chunk.
  void parallel_for(int64_t n, int64_t grain,
                    const std::function<void(int64_t begin, int64_t end, int ith)>& fn);

  // Number of physical cores of this machine (logical CPUs when that cannot be read).
  static int physical_cores();

 private:
  void worker_loop(int ith);

  int n_threads_;
  std::vector<std::thread> workers_;
  std::mutex run_mutex_;
  const std::function<void(int, int)>* job_ = nullptr;
  std::atomic<uint32_t> generation_{0};
  std::atomic<int> pending_{0};
  std::atomic<bool> stop_{false};
};

}  // namespace hangar
