// HashWorker: computes the sha256 of newly found models in the background, with progress.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>

#include "manager/registry.h"

namespace hangar::manager {

struct HashProgress {
  bool running = false;        // the background thread exists
  std::string current_id;      // being hashed now (empty when idle)
  uint64_t current_done = 0, current_total = 0;  // bytes of the current file
  int64_t hashed = 0, failed = 0;  // since start
  int64_t pending = 0;             // present models still without a digest (at last look)
};

// One file at a time, so hashing competes with inference for at most one core and one
// stream of disk reads. Thread-safe. The registry must outlive the worker.
class HashWorker {
 public:
  explicit HashWorker(Registry& registry) : registry_(registry) {}
  ~HashWorker() { stop(); }
  HashWorker(const HashWorker&) = delete;
  HashWorker& operator=(const HashWorker&) = delete;

  // Starts the thread (once) and wakes it: it hashes every present, readable model without a
  // digest, then sleeps until the next wake(). Call wake() after a scan.
  void start();
  void wake();
  // Cancels a hash in progress and joins the thread.
  void stop();
  // Hashes every pending model in the calling thread; returns how many were hashed.
  int run_pending();
  HashProgress progress() const;

 private:
  void loop();
  std::vector<std::string> pending_ids();
  void hash_one(const std::string& id);

  Registry& registry_;
  mutable std::mutex mu_;
  std::condition_variable wake_cv_;
  bool wake_ = false;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  HashProgress progress_;
};

}  // namespace hangar::manager
