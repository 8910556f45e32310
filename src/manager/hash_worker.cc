// Background sha256 of model files.
#include "manager/hash_worker.h"

#include "base/log.h"
#include "manager/integrity.h"

namespace hangar::manager {

void HashWorker::start() {
  {
    std::lock_guard lock(mu_);
    if (!thread_.joinable()) {
      stop_ = false;
      progress_.running = true;
      thread_ = std::thread([this] { loop(); });
    }
  }
  wake();
}

void HashWorker::wake() {
  std::lock_guard lock(mu_);
  wake_ = true;
  wake_cv_.notify_all();
}

void HashWorker::stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
    wake_cv_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
  std::lock_guard lock(mu_);
  progress_.running = false;
}

std::vector<std::string> HashWorker::pending_ids() {
  std::vector<std::string> ids;
  for (const ModelRecord& rec : registry_.list()) {
    if (rec.sha256.empty() && rec.scan_error.empty()) ids.push_back(rec.id);
  }
  std::lock_guard lock(mu_);
  progress_.pending = static_cast<int64_t>(ids.size());
  return ids;
}

void HashWorker::hash_one(const std::string& id) {
  {
    std::lock_guard lock(mu_);
    progress_.current_id = id;
    progress_.current_done = progress_.current_total = 0;
  }
  auto on_progress = [this](uint64_t done, uint64_t total) {
    std::lock_guard lock(mu_);
    progress_.current_done = done;
    progress_.current_total = total;
  };
  Result<std::string> digest = verify_model(registry_, id, on_progress, &stop_);
  std::lock_guard lock(mu_);
  progress_.current_id.clear();
  progress_.pending = std::max<int64_t>(progress_.pending - 1, 0);
  if (digest.ok()) {
    progress_.hashed += 1;
  } else if (!stop_) {
    progress_.failed += 1;
    log_warn("hashing model '" + id + "' failed: " + digest.error().message());
  }
}

int HashWorker::run_pending() {
  int n = 0;
  for (const std::string& id : pending_ids()) {
    if (stop_) break;
    hash_one(id);
    ++n;
  }
  return n;
}

HashProgress HashWorker::progress() const {
  std::lock_guard lock(mu_);
  return progress_;
}

void HashWorker::loop() {
  for (;;) {
    {
      std::unique_lock lock(mu_);
      wake_cv_.wait(lock, [&] { return wake_ || stop_; });
      if (stop_) return;
      wake_ = false;
    }
    for (const std::string& id : pending_ids()) {
      if (stop_) return;
      // A digest may have appeared meanwhile (a verify request); do not hash twice.
      std::optional<ModelRecord> rec = registry_.get(id);
      if (!rec || !rec->sha256.empty()) continue;
      hash_one(id);
    }
  }
}

}  // namespace hangar::manager
