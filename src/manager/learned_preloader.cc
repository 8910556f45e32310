// LearnedPreloader: the value-versus-evicted-value rule, hints, and hit/waste accounting.
#include "manager/learned_preloader.h"

#include <algorithm>
#include <cstdio>

#include "base/log.h"

namespace hangar::manager {
namespace {

std::string fixed(double x) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f", x);
  return buf;
}

}  // namespace

LearnedPreloader::LearnedPreloader(Registry& registry, ModelCache& cache, const WallClock& wall_clock,
                                   PredictorOptions predictor, LearnedOptions options)
    : registry_(registry), cache_(cache), wall_(wall_clock), predictor_(predictor), options_(options) {}

Status LearnedPreloader::load_history() {
  HANGAR_ASSIGN(std::vector<Registry::RequestEvent> events, registry_.request_history());
  for (const Registry::RequestEvent& e : events) predictor_.observe(e.id, e.at_ms);
  return Status::Ok();
}

void LearnedPreloader::on_request(const std::string& id) {
  const int64_t now = wall_.now_unix_ms();
  predictor_.observe(id, now);
  Status st = registry_.record_request(id, now);
  if (!st.ok()) log_warn("cannot record a request for '" + id + "' in the history: " + st.error().message());
  std::lock_guard lock(mu_);
  if (preloaded_unused_.erase(id) == 0) return;
  std::optional<ModelStatus> s = cache_.status(id);
  if (s && s->state == ModelState::kLoaded) {
    counters_.hits += 1;
  } else if (!s || s->state == ModelState::kUnloaded) {
    counters_.wasted += 1;  // it left before this request came
  }
}

double LearnedPreloader::load_cost_ms(const ModelRecord& rec) const {
  if (rec.last_load_ms > 0) return static_cast<double>(rec.last_load_ms);
  return std::max(1.0, static_cast<double>(rec.file_size) / options_.load_bytes_per_ms);
}

PreloadDecision LearnedPreloader::decide(const std::string& id) {
  PreloadDecision d;
  d.id = id;
  std::optional<ModelRecord> rec = registry_.get(id);
  if (!rec || !rec->present) {
    d.reason = "unknown model";
    return d;
  }
  const int64_t now = wall_.now_unix_ms();
  d.probability = predictor_.predict_one(id, now).probability;
  d.value = d.probability * load_cost_ms(*rec);
  std::optional<ModelStatus> s = cache_.status(id);
  if (s && s->state != ModelState::kUnloaded) {
    d.reason = s->state == ModelState::kLoaded ? "already loaded" : "already loading";
    return d;
  }
  if (cache_.stats().waiting > 0) {
    d.reason = "requests are waiting for memory: they go first";
    return d;
  }
  Result<FitReport> fit = cache_.fit(id);
  if (!fit.ok()) {
    d.reason = fit.error().message();
    return d;
  }
  if (!fit->drain.empty()) {
    d.reason = "it would need busy models to finish first; a prediction never evicts a busy model";
    return d;
  }
  if (!fit->fits) {
    d.reason = "does not fit: " + fit->reason;
    return d;
  }
  if (fit->evict.empty()) {
    d.preload = true;
    d.reason = "fits in free memory";
    return d;
  }
  for (const std::string& v : fit->evict) {
    std::optional<ModelRecord> vr = registry_.get(v);
    if (vr) d.evicted_value += predictor_.predict_one(v, now).probability * load_cost_ms(*vr);
  }
  d.evict = fit->evict;
  d.preload = d.value > options_.margin * d.evicted_value;
  d.reason = std::string(d.preload ? "worth more than" : "worth less than") + " what it would evict (" +
             fixed(d.value) + " vs " + fixed(d.evicted_value) + " expected ms of loading)";
  return d;
}

Result<PreloadDecision> LearnedPreloader::hint(const std::string& id) {
  std::optional<ModelRecord> rec = registry_.get(id);
  if (!rec || !rec->present) return Error("unknown model '" + id + "'");
  predictor_.hint(id, wall_.now_unix_ms());
  PreloadDecision d = decide(id);
  if (d.preload) {
    std::lock_guard lock(mu_);
    if (std::find(hinted_.begin(), hinted_.end(), id) == hinted_.end()) hinted_.push_back(id);
  }
  return d;
}

bool LearnedPreloader::preload_now(const PreloadDecision& d) {
  for (const std::string& v : d.evict) {
    Status st = cache_.unload(v, EvictionReason::kPolicy);
    if (!st.ok()) {  // it became busy or pinned meanwhile: it stays, and so does the plan
      log_info("preload of '" + d.id + "' given up: '" + v + "' cannot go (" + st.error().message() + ")");
      return false;
    }
  }
  AcquireOptions acquire;
  acquire.keep_alive_ms = options_.keep_alive_ms;
  acquire.count_access = false;
  acquire.allow_evict = false;  // into free memory only: a request that needs it meanwhile wins
  AcquireFailure failure;
  Status st = cache_.load(d.id, acquire, &failure);
  std::lock_guard lock(mu_);
  if (!st.ok()) {
    if (failure.kind != FailureKind::kInsufficientMemory) counters_.failed += 1;
    log_info("preload of '" + d.id + "' not done: " + st.error().message());
    return false;
  }
  counters_.preloads += 1;
  preloaded_unused_.insert(d.id);
  log_info("preloaded model '" + d.id + "' (" + d.reason + ", p=" + fixed(100 * d.probability) + "%)");
  return true;
}

int LearnedPreloader::step() {
  {
    std::lock_guard lock(mu_);
    count_gone_locked();
  }
  for (;;) {
    std::string id;
    {
      std::lock_guard lock(mu_);
      if (hinted_.empty()) break;
      id = hinted_.front();
      hinted_.pop_front();
    }
    PreloadDecision d = decide(id);  // again: memory may have changed since the hint
    if (d.preload) return preload_now(d) ? 1 : 0;
  }
  if (!options_.predict) return 0;
  std::vector<Prediction> ranked = predictions();
  std::sort(ranked.begin(), ranked.end(),
            [](const Prediction& a, const Prediction& b) { return a.probability > b.probability; });
  for (const Prediction& p : ranked) {
    if (p.probability < options_.min_probability) break;
    if (cache_.is_loaded(p.id)) continue;
    PreloadDecision d = decide(p.id);
    // Only the most likely model not loaded is considered: a less likely one is worth less.
    return d.preload && preload_now(d) ? 1 : 0;
  }
  return 0;
}

void LearnedPreloader::count_gone_locked() {
  for (auto it = preloaded_unused_.begin(); it != preloaded_unused_.end();) {
    std::optional<ModelStatus> s = cache_.status(*it);
    if (!s || s->state == ModelState::kUnloaded) {
      counters_.wasted += 1;
      it = preloaded_unused_.erase(it);
    } else {
      ++it;
    }
  }
}

std::vector<Prediction> LearnedPreloader::predictions() const {
  std::vector<std::string> ids;
  for (const ModelRecord& r : registry_.list()) ids.push_back(r.id);
  return predictor_.predict(ids, wall_.now_unix_ms());
}

LearnedStats LearnedPreloader::stats() {
  std::lock_guard lock(mu_);
  count_gone_locked();
  LearnedStats s = counters_;
  s.history = registry_.history_size();
  return s;
}

Status LearnedPreloader::reset() {
  HANGAR_TRY(registry_.clear_history());
  predictor_.reset();
  std::lock_guard lock(mu_);
  hinted_.clear();
  return Status::Ok();
}

Result<int64_t> LearnedPreloader::prune() { return registry_.prune_history(options_.history_keep); }

}  // namespace hangar::manager
