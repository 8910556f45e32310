// Metrics: request, token and latency counters per model, rendered as Prometheus text.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "engine/kv_store.h"
#include "manager/hash_worker.h"
#include "manager/memory_monitor.h"
#include "manager/model_cache.h"
#include "manager/preloader.h"

namespace hangar::api {

// A cumulative histogram with fixed upper bounds (Prometheus "le" buckets). Not thread-safe.
class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds) : bounds_(std::move(bounds)), counts_(bounds_.size(), 0) {}
  void observe(double v);
  const std::vector<double>& bounds() const { return bounds_; }
  // Cumulative count of observations <= bounds()[i].
  uint64_t cumulative(size_t i) const;
  uint64_t count() const { return count_; }
  double sum() const { return sum_; }

 private:
  std::vector<double> bounds_;
  std::vector<uint64_t> counts_;  // per bucket, not cumulative
  uint64_t count_ = 0;
  double sum_ = 0;
};

// One finished generation request.
struct GenerationSample {
  std::string model;
  std::string endpoint;   // "chat" or "completions"
  std::string outcome;    // "ok", "cancelled" or "error"
  int64_t prompt_tokens = 0, cached_tokens = 0, generated_tokens = 0;
  double ttft_s = -1;     // request arrival to first token (includes load and queueing); -1: none
  double decode_tps = 0;  // tokens per second after the first; 0: fewer than two tokens
  int64_t disk_tokens = 0;  // of cached_tokens, restored from the disk store
};

// One resident model's engine as a gateway sees it: requests in its slots and waiting for one,
// and its KV cache (used includes prefixes kept for reuse).
struct EngineGauges {
  std::string model;
  int running = 0, queued = 0;
  uint64_t kv_used_bytes = 0, kv_capacity_bytes = 0;
};

// Everything /metrics shows beyond the generation counters, read by the route at render time.
struct ManagerSnapshot {
  std::vector<EngineGauges> engines;  // resident models, by id
  manager::CacheStats cache;
  manager::PreloadStats preload;
  manager::MonitorStats monitor;
  manager::HashProgress hashing;
  std::optional<engine::KvStoreStats> kv_store;  // absent: no disk store (--kv-disk-budget 0)
};

// Thread-safe.
class Metrics {
 public:
  void record_generation(const GenerationSample& s);
  // Counts an answered HTTP request by status code (every route).
  void record_http(int status);
  // The Prometheus text exposition format (version 0.0.4).
  std::string render(const ManagerSnapshot& m) const;

 private:
  struct PerModel {
    std::map<std::pair<std::string, std::string>, int64_t> requests;  // (endpoint, outcome)
    int64_t prompt_tokens = 0, cached_tokens = 0, generated_tokens = 0, disk_tokens = 0;
    Histogram ttft{{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}};
    Histogram decode{{1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000}};
  };
  mutable std::mutex mu_;
  std::map<std::string, PerModel> models_;
  std::map<int, int64_t> http_;
};

// Escapes a label value for the exposition format (backslash, quote, newline).
std::string prometheus_label(const std::string& value);

}  // namespace hangar::api
