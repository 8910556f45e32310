// LearnedPreloader: preloads the models the Predictor expects, when their value beats the
// value of what they would evict (--preload-strategy learned, and POST /v1/models/{id}/hint).
#pragma once

#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/result.h"
#include "manager/model_cache.h"
#include "manager/predictor.h"
#include "manager/registry.h"

namespace hangar::manager {

struct LearnedOptions {
  bool predict = true;             // preload on predictions (false: hints only)
  int64_t history_keep = 100'000;  // request history rows kept by prune()
  double min_probability = 0.05;   // a prediction below this never preloads
  double margin = 1.25;            // a preload that evicts must be worth this many times more
  std::optional<int64_t> keep_alive_ms;  // for preloaded models; default: the cache's
  double load_bytes_per_ms = 1e6;  // load cost of a model never loaded: its file at 1 GB/s
};

struct LearnedStats {
  int64_t preloads = 0;  // loads started by a prediction or a hint that succeeded
  int64_t hits = 0;      // a request found its model loaded thanks to a preload
  int64_t wasted = 0;    // a preloaded model left before any request used it
  int64_t failed = 0;
  int64_t history = 0;   // rows in the registry's request history
};

// Whether preloading `id` now is worth it, and why (the hint's answer).
struct PreloadDecision {
  std::string id;
  bool preload = false;
  std::string reason;
  double probability = 0;
  double value = 0;          // probability x load cost (ms): the wait a preload would save
  double evicted_value = 0;  // the same summed over the idle models it would evict
  std::vector<std::string> evict;
};

// The rule, for a model m not loaded, with p from the predictor and cost = its last measured
// load time (ms), or its file size at load_bytes_per_ms:
//   - requests waiting for memory: no (they go first);
//   - it fits free memory: yes;
//   - it needs a busy model to finish, or the memory is pinned: no (never for a prediction);
//   - else yes when p_m cost_m > margin x sum of p_v cost_v over the idle models v it evicts.
// A prediction also needs p_m >= min_probability. Preloads load only into free memory (the
// victims are unloaded first), so a real request waiting for memory is never held up by one,
// and a preloaded model is evicted like any idle model when a request needs its memory.
// Thread-safe; step() is for one driving thread (the manager's preload thread or a test).
class LearnedPreloader {
 public:
  LearnedPreloader(Registry& registry, ModelCache& cache, const WallClock& wall_clock, PredictorOptions predictor,
                   LearnedOptions options);

  // The predictor learns the registry's stored history (at start).
  Status load_history();
  // Every request (CacheOptions::on_request): recorded, learned, and counted as a preload hit
  // or waste when its model was preloaded.
  void on_request(const std::string& id);
  // POST /v1/models/{id}/hint: the model's prediction is raised for a while and, when the rule
  // says yes, the preload is queued for the next step(). Error for an unknown model.
  Result<PreloadDecision> hint(const std::string& id);
  PreloadDecision decide(const std::string& id);
  // Runs a queued hint's preload, else (when options.predict) the best prediction's. Returns
  // how many loads it started (0 or 1). Blocks for the load.
  int step();
  // Predictions for every present model, by id.
  std::vector<Prediction> predictions() const;
  LearnedStats stats();
  // Forgets what was learned: the stored history and the counts.
  Status reset();
  // Trims the stored history to history_keep rows; returns how many went.
  Result<int64_t> prune();
  Predictor& predictor() { return predictor_; }
  const LearnedOptions& options() const { return options_; }

 private:
  double load_cost_ms(const ModelRecord& rec) const;
  bool preload_now(const PreloadDecision& d);
  void count_gone_locked();

  Registry& registry_;
  ModelCache& cache_;
  const WallClock& wall_;
  Predictor predictor_;
  const LearnedOptions options_;
  mutable std::mutex mu_;
  std::deque<std::string> hinted_;            // queued by hint(), run first by step()
  std::set<std::string> preloaded_unused_;    // loaded by a preload, no request since
  LearnedStats counters_;
};

}  // namespace hangar::manager
