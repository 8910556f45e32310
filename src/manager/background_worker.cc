// BackgroundWorker: scheduling and bookkeeping of the periodic jobs.
#include "manager/background_worker.h"

#include <algorithm>
#include <chrono>
#include <limits>

#include "base/assert.h"
#include "base/log.h"

namespace hangar::manager {

void BackgroundWorker::add_job(std::string name, int64_t interval_ms, Job job) {
  HANGAR_ASSERT(interval_ms > 0 && job);
  std::lock_guard lock(mu_);
  HANGAR_ASSERT(!thread_.joinable());
  Entry e;
  e.stats.name = std::move(name);
  e.stats.interval_ms = interval_ms;
  e.job = std::move(job);
  entries_.push_back(std::move(e));
}

void BackgroundWorker::run_entry(size_t i) {
  Job job;
  {
    std::lock_guard lock(mu_);
    job = entries_[i].job;
    entries_[i].stats.last_run_ms = clock_.now_ms();
  }
  Stopwatch watch;
  Result<JobOutcome> r = job();
  const double ms = watch.elapsed_ms();
  std::lock_guard lock(mu_);
  Entry& e = entries_[i];
  e.due_now = r.ok() && r->again;
  e.due_ms = e.stats.last_run_ms + e.stats.interval_ms;
  e.stats.runs += 1;
  e.stats.last_duration_ms = ms;
  if (r.ok()) {
    e.stats.last = std::move(*r);
    e.stats.last_error.clear();
    e.stats.freed_bytes_total += e.stats.last.freed_bytes;
    e.stats.freed_items_total += e.stats.last.freed_items;
  } else {
    e.stats.failures += 1;
    e.stats.last_error = r.error().message();
    log_warn("background job '" + e.stats.name + "' failed: " + e.stats.last_error);
  }
}

int BackgroundWorker::run_due() {
  std::lock_guard run_lock(run_mu_);
  size_t n_entries;
  {
    std::lock_guard lock(mu_);
    n_entries = entries_.size();
  }
  int ran = 0;
  for (size_t i = 0; i < n_entries; ++i) {
    bool due;
    {
      std::lock_guard lock(mu_);
      due = entries_[i].due_now || clock_.now_ms() >= entries_[i].due_ms;
    }
    if (!due) continue;
    run_entry(i);
    ++ran;
  }
  return ran;
}

bool BackgroundWorker::run_now(const std::string& name) {
  std::lock_guard run_lock(run_mu_);
  size_t index = entries_.size();
  {
    std::lock_guard lock(mu_);
    for (size_t i = 0; i < entries_.size(); ++i)
      if (entries_[i].stats.name == name) index = i;
    if (index == entries_.size()) return false;
  }
  run_entry(index);
  return true;
}

int64_t BackgroundWorker::next_due_ms() const {
  std::lock_guard lock(mu_);
  int64_t next = std::numeric_limits<int64_t>::max();
  for (const Entry& e : entries_) next = std::min(next, e.due_now ? clock_.now_ms() : e.due_ms);
  return next;
}

std::vector<JobStats> BackgroundWorker::stats() const {
  std::lock_guard lock(mu_);
  std::vector<JobStats> out;
  for (const Entry& e : entries_) out.push_back(e.stats);
  return out;
}

void BackgroundWorker::start() {
  std::lock_guard lock(mu_);
  if (thread_.joinable() || entries_.empty()) return;
  stop_ = false;
  thread_ = std::thread([this] { loop(); });
}

bool BackgroundWorker::request(const std::string& name) {
  std::lock_guard lock(mu_);
  for (Entry& e : entries_) {
    if (e.stats.name != name) continue;
    e.due_now = true;
    wake_ = true;
    cv_.notify_all();
    return true;
  }
  return false;
}

void BackgroundWorker::stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
    cv_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
}

void BackgroundWorker::loop() {
  for (;;) {
    run_due();
    const int64_t wait_ms = std::max<int64_t>(next_due_ms() - clock_.now_ms(), 1);
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, std::chrono::milliseconds(wait_ms), [&] { return stop_ || wake_; });
    if (stop_) return;
    wake_ = false;
  }
}

}  // namespace hangar::manager
