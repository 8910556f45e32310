// Preloader: strategy order, memory-aware batches and the rate limit.
#include "manager/preloader.h"

#include <algorithm>
#include <map>
#include <thread>
#include <tuple>

#include "base/log.h"
#include "manager/units.h"

namespace hangar::manager {

Preloader::Preloader(Registry& registry, ModelCache& cache, MemoryReader& memory,
                     const Clock& clock, PreloadOptions options)
    : registry_(registry), cache_(cache), memory_(memory), clock_(clock), options_(options) {
  HANGAR_ASSERT(options_.batch >= 1 && options_.delay_ms >= 0);
}

Result<bool> Preloader::enqueue(const std::string& id) {
  std::optional<ModelRecord> rec = registry_.get(id);
  if (!rec || !rec->present) return Error("preload: unknown model '" + id + "'");
  std::lock_guard lock(mu_);
  if (in_progress_.count(id)) return false;
  for (const Item& item : queue_) {
    if (item.id == id) return false;
  }
  queue_.push_back({id, next_seq_++});
  return true;
}

int Preloader::enqueue_saved_list() {
  int n = 0;
  // Pinned models are meant to stay resident, so they come back after a restart too.
  std::vector<std::string> ids = registry_.preload_list();
  for (const std::string& id : registry_.pinned()) {
    if (std::find(ids.begin(), ids.end(), id) == ids.end()) ids.push_back(id);
  }
  for (const std::string& id : ids) {
    Result<bool> queued = enqueue(id);
    if (!queued.ok()) {
      log_warn(queued.error().message() + " (on the saved preload list)");
      std::lock_guard lock(mu_);
      counters_.failed += 1;
    } else if (*queued) {
      ++n;
    }
  }
  return n;
}

Status Preloader::add_to_list(const std::string& id) {
  HANGAR_TRY(registry_.add_preload(id));
  HANGAR_TRY(enqueue(id));
  return Status::Ok();
}

Status Preloader::remove_from_list(const std::string& id) {
  HANGAR_TRY(registry_.remove_preload(id));
  std::lock_guard lock(mu_);
  remove_locked(id);
  return Status::Ok();
}

void Preloader::remove_locked(const std::string& id) {
  queue_.erase(std::remove_if(queue_.begin(), queue_.end(),
                              [&](const Item& item) { return item.id == id; }),
               queue_.end());
}

std::vector<Preloader::Item> Preloader::ordered_locked() const {
  std::vector<Item> items = queue_;
  if (options_.strategy == PreloadStrategy::kSequential || options_.strategy == PreloadStrategy::kLearned) {
    std::sort(items.begin(), items.end(), [](const Item& a, const Item& b) { return a.seq < b.seq; });
    return items;
  }
  // Higher key first; ties keep queue order.
  std::map<std::string, int64_t> key;
  for (const Item& item : items) {
    std::optional<ModelRecord> rec = registry_.get(item.id);
    int64_t k = 0;
    if (rec) {
      switch (options_.strategy) {
        case PreloadStrategy::kFrequency: k = rec->access_count; break;
        case PreloadStrategy::kRecency: k = rec->last_access_ms; break;
        case PreloadStrategy::kSize: k = -static_cast<int64_t>(rec->file_size); break;
        case PreloadStrategy::kSequential:
        case PreloadStrategy::kLearned: break;
      }
    }
    key[item.id] = k;
  }
  std::sort(items.begin(), items.end(), [&](const Item& a, const Item& b) {
    return std::make_tuple(-key[a.id], a.seq) < std::make_tuple(-key[b.id], b.seq);
  });
  return items;
}

std::vector<std::string> Preloader::order() const {
  std::lock_guard lock(mu_);
  std::vector<std::string> ids;
  for (const Item& item : ordered_locked()) ids.push_back(item.id);
  return ids;
}

int64_t Preloader::next_due_ms() const {
  std::lock_guard lock(mu_);
  return next_due_ms_;
}

bool Preloader::idle() const {
  std::lock_guard lock(mu_);
  return queue_.empty() && in_progress_.empty();
}

PreloadStats Preloader::stats() const {
  std::lock_guard lock(mu_);
  PreloadStats s = counters_;
  s.queued = static_cast<int64_t>(queue_.size());
  s.in_progress = static_cast<int64_t>(in_progress_.size());
  return s;
}

int Preloader::step() {
  std::vector<Item> picked;
  {
    std::lock_guard lock(mu_);
    if (queue_.empty() || clock_.now_ms() < next_due_ms_) return 0;
    const MemorySnapshot mem = memory_.read();
    const uint64_t budget = cache_.budget_bytes();
    uint64_t reserved = 0;
    int64_t waiting = 0;
    for (const Item& item : ordered_locked()) {
      if (static_cast<int>(picked.size()) == options_.batch) break;
      if (cache_.is_loaded(item.id)) {
        counters_.skipped += 1;
        remove_locked(item.id);
        continue;
      }
      Result<AdmissionFigure> fig = cache_.admission(item.id);
      Result<uint64_t> est = fig.ok() ? Result<uint64_t>(fig->bytes) : Result<uint64_t>(fig.error());
      if (!est.ok() || (budget != 0 && *est > budget)) {
        log_warn("preload of '" + item.id + "' failed: " +
                 (est.ok() ? "its footprint of " + format_bytes(*est) +
                                 " exceeds the whole memory budget"
                           : est.error().message()));
        counters_.failed += 1;
        remove_locked(item.id);
        continue;
      }
      const uint64_t need = reserved + *est;
      const int models = static_cast<int>(picked.size()) + 1;
      if (!cache_.fits_without_eviction(need, models) ||
          mem.headroom() < need + options_.memory_margin_bytes) {
        waiting += 1;  // stays queued until memory is really free
        continue;
      }
      reserved = need;
      picked.push_back(item);
      remove_locked(item.id);
      in_progress_.insert(item.id);
    }
    counters_.waiting_for_memory = waiting;
    if (picked.empty()) {
      next_due_ms_ = clock_.now_ms() + options_.delay_ms;
      return 0;
    }
  }

  // Loads of one batch run side by side; the cache itself keeps one load per model.
  std::vector<Status> results(picked.size());
  std::vector<AcquireFailure> failures(picked.size());
  AcquireOptions acquire;
  acquire.keep_alive_ms = options_.keep_alive_ms;
  acquire.count_access = false;
  acquire.allow_evict = false;
  auto load_one = [&](size_t i) { results[i] = cache_.load(picked[i].id, acquire, &failures[i]); };
  if (picked.size() == 1) {
    load_one(0);
  } else {
    std::vector<std::thread> threads;
    for (size_t i = 0; i < picked.size(); ++i) threads.emplace_back(load_one, i);
    for (std::thread& t : threads) t.join();
  }

  std::lock_guard lock(mu_);
  for (size_t i = 0; i < picked.size(); ++i) {
    const std::string& id = picked[i].id;
    in_progress_.erase(id);
    if (results[i].ok()) {
      counters_.loaded += 1;
      log_info("preloaded model '" + id + "'");
    } else if (failures[i].kind == FailureKind::kInsufficientMemory) {
      // Memory was taken between the check and the load: try again later.
      queue_.push_back(picked[i]);
    } else {
      counters_.failed += 1;
      log_warn("preload of '" + id + "' failed: " + results[i].error().message());
    }
  }
  next_due_ms_ = clock_.now_ms() + options_.delay_ms;
  return static_cast<int>(picked.size());
}

}  // namespace hangar::manager
