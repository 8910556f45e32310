// Metrics: accumulation and the Prometheus text exposition.
#include "api/metrics.h"

#include <cmath>
#include <cstdio>

namespace hangar::api {
namespace {

// Integers exactly (byte counts), other values with enough digits and no binary noise
// ("0.05", not "0.050000000000000003"), as bucket bounds must read back as written.
std::string num(double v) {
  char buf[64];
  if (v == std::floor(v) && std::fabs(v) < 1e15) std::snprintf(buf, sizeof buf, "%.0f", v);
  else std::snprintf(buf, sizeof buf, "%.12g", v);
  return buf;
}

void header(std::string& out, const char* name, const char* type, const char* help) {
  out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
}

void sample(std::string& out, const std::string& name, const std::string& labels, double v) {
  out += name;
  if (!labels.empty()) out += "{" + labels + "}";
  out += " " + num(v) + "\n";
}

// A metric with one unlabelled sample.
void single(std::string& out, const char* name, const char* type, const char* help, double v) {
  header(out, name, type, help);
  sample(out, name, "", v);
}

std::string model_label(const std::string& id) { return "model=\"" + prometheus_label(id) + "\""; }

void histogram(std::string& out, const std::string& name, const std::string& labels, const Histogram& h) {
  for (size_t i = 0; i < h.bounds().size(); ++i)
    sample(out, name + "_bucket", labels + ",le=\"" + num(h.bounds()[i]) + "\"", double(h.cumulative(i)));
  sample(out, name + "_bucket", labels + ",le=\"+Inf\"", double(h.count()));
  sample(out, name + "_sum", labels, h.sum());
  sample(out, name + "_count", labels, double(h.count()));
}

// The disk store of prompt prefixes (serve --kv-disk-budget).
void render_kv_store(std::string& out, const engine::KvStoreStats& k) {
  single(out, "hangar_kv_disk_files", "gauge", "Saved prompt prefixes on disk.", double(k.files));
  single(out, "hangar_kv_disk_bytes", "gauge", "Bytes of saved prompt prefixes on disk.", double(k.bytes));
  header(out, "hangar_kv_disk_saves_total", "counter", "Prompt prefixes written to disk (and failed writes).");
  sample(out, "hangar_kv_disk_saves_total", "result=\"ok\"", double(k.saves));
  sample(out, "hangar_kv_disk_saves_total", "result=\"failed\"", double(k.save_failures));
  single(out, "hangar_kv_disk_restores_total", "counter", "Prompt prefixes restored from disk.", double(k.restores));
  single(out, "hangar_kv_disk_restored_tokens_total", "counter",
         "Prompt tokens restored from disk.", double(k.restored_tokens));
  single(out, "hangar_kv_disk_rejected_total", "counter",
         "Saved files found truncated, corrupt, foreign or stale: deleted, never used.", double(k.rejected));
  single(out, "hangar_kv_disk_evictions_total", "counter",
         "Saved files deleted to stay within --kv-disk-budget.", double(k.evicted));
}

}  // namespace

void Histogram::observe(double v) {
  for (size_t i = 0; i < bounds_.size(); ++i) {
    if (v <= bounds_[i]) {
      counts_[i] += 1;
      break;
    }
  }
  count_ += 1;
  sum_ += v;
}

uint64_t Histogram::cumulative(size_t i) const {
  uint64_t c = 0;
  for (size_t j = 0; j <= i && j < counts_.size(); ++j) c += counts_[j];
  return c;
}

std::string prometheus_label(const std::string& value) {
  std::string out;
  for (char c : value) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

void Metrics::record_generation(const GenerationSample& s) {
  std::lock_guard lock(mu_);
  PerModel& m = models_[s.model];
  m.requests[{s.endpoint, s.outcome}] += 1;
  m.prompt_tokens += s.prompt_tokens;
  m.cached_tokens += s.cached_tokens;
  m.disk_tokens += s.disk_tokens;
  m.generated_tokens += s.generated_tokens;
  if (s.ttft_s >= 0) m.ttft.observe(s.ttft_s);
  if (s.decode_tps > 0) m.decode.observe(s.decode_tps);
}

void Metrics::record_http(int status) {
  std::lock_guard lock(mu_);
  http_[status] += 1;
}

std::string Metrics::render(const ManagerSnapshot& snap) const {
  std::string out;
  std::lock_guard lock(mu_);
  header(out, "hangar_requests_total", "counter", "Generation requests by model, endpoint and outcome.");
  for (const auto& [id, m] : models_)
    for (const auto& [key, n] : m.requests)
      sample(out, "hangar_requests_total",
             model_label(id) + ",endpoint=\"" + key.first + "\",outcome=\"" + key.second + "\"", double(n));
  header(out, "hangar_prompt_tokens_total", "counter", "Prompt tokens of generation requests.");
  for (const auto& [id, m] : models_) sample(out, "hangar_prompt_tokens_total", model_label(id), double(m.prompt_tokens));
  header(out, "hangar_prompt_tokens_cached_total", "counter", "Prompt tokens reused from the KV cache.");
  for (const auto& [id, m] : models_)
    sample(out, "hangar_prompt_tokens_cached_total", model_label(id), double(m.cached_tokens));
  header(out, "hangar_prompt_tokens_cached_disk_total", "counter",
         "Of the reused prompt tokens, those restored from the disk store.");
  for (const auto& [id, m] : models_)
    sample(out, "hangar_prompt_tokens_cached_disk_total", model_label(id), double(m.disk_tokens));
  header(out, "hangar_generated_tokens_total", "counter", "Generated tokens.");
  for (const auto& [id, m] : models_)
    sample(out, "hangar_generated_tokens_total", model_label(id), double(m.generated_tokens));
  header(out, "hangar_time_to_first_token_seconds", "histogram",
         "From request arrival to the first token (includes loading and queueing).");
  for (const auto& [id, m] : models_) histogram(out, "hangar_time_to_first_token_seconds", model_label(id), m.ttft);
  header(out, "hangar_decode_tokens_per_second", "histogram", "Decode rate of each request after its first token.");
  for (const auto& [id, m] : models_) histogram(out, "hangar_decode_tokens_per_second", model_label(id), m.decode);
  header(out, "hangar_http_responses_total", "counter", "HTTP responses by status code.");
  for (const auto& [status, n] : http_)
    sample(out, "hangar_http_responses_total", "code=\"" + std::to_string(status) + "\"", double(n));

  const manager::CacheStats& c = snap.cache;
  single(out, "hangar_model_loads_total", "counter", "Model loads.", double(c.loads));
  single(out, "hangar_model_load_failures_total", "counter", "Model loads that failed.", double(c.load_failures));
  single(out, "hangar_model_load_seconds_total", "counter",
         "Time spent loading models.", double(c.total_load_ms) / 1e3);
  header(out, "hangar_model_unloads_total", "counter",
         "Models unloaded, by reason: policy (room for another model), keep_alive, memory_pressure, manual, "
         "settings_change, file_changed.");
  for (int r = 0; r < manager::kEvictionReasonCount; ++r) {
    const auto reason = static_cast<manager::EvictionReason>(r);
    sample(out, "hangar_model_unloads_total", std::string("reason=\"") + manager::eviction_reason_name(reason) + "\"",
           double(c.unloads_for(reason)));
  }
  single(out, "hangar_model_evictions_total", "counter",
         "Models evicted to make room (budget or count cap).", double(c.unloads_for(manager::EvictionReason::kPolicy)));
  header(out, "hangar_requests_waiting", "gauge", "Requests waiting for memory now, per model.");
  for (const auto& s : c.models) sample(out, "hangar_requests_waiting", model_label(s.id), double(s.waiting));
  single(out, "hangar_requests_queued_total", "counter", "Requests that had to wait for memory.", double(c.queued));
  single(out, "hangar_queue_wait_seconds_total", "counter",
         "Time requests spent waiting for memory.", double(c.queue_wait_ms) / 1e3);
  header(out, "hangar_requests_rejected_total", "counter",
         "Requests refused while waiting for memory: queue full (429) or timed out (503).");
  sample(out, "hangar_requests_rejected_total", "reason=\"queue_full\"", double(c.queue_full));
  sample(out, "hangar_requests_rejected_total", "reason=\"queue_timeout\"", double(c.queue_timeouts));
  single(out, "hangar_cache_hits_total", "counter", "Requests that found their model loaded.", double(c.hits));
  single(out, "hangar_cache_misses_total", "counter", "Requests that had to load their model.", double(c.misses));
  single(out, "hangar_cache_hit_ratio", "gauge", "hits / (hits + misses).", c.hit_rate());
  header(out, "hangar_model_memory_bytes", "gauge", "Measured bytes of each resident model.");
  int resident = 0;
  for (const auto& s : c.models) {
    if (s.state == manager::ModelState::kUnloaded) continue;
    sample(out, "hangar_model_memory_bytes", model_label(s.id), double(s.bytes));
    resident += s.state == manager::ModelState::kLoaded;
  }
  header(out, "hangar_model_tier", "gauge",
         "Where each model's weights are: 1 for its tier (gpu; host: a CPU model or one demoted from the GPU; "
         "disk: not loaded), 0 for the others.");
  for (const auto& s : c.models) {
    for (manager::ModelTier t : {manager::ModelTier::kGpu, manager::ModelTier::kHost, manager::ModelTier::kDisk})
      sample(out, "hangar_model_tier", model_label(s.id) + ",tier=\"" + manager::model_tier_name(t) + "\"",
             s.tier == t ? 1.0 : 0.0);
  }
  header(out, "hangar_model_gpu_memory_bytes", "gauge", "GPU bytes of each resident model.");
  for (const auto& s : c.models) {
    if (s.state != manager::ModelState::kUnloaded)
      sample(out, "hangar_model_gpu_memory_bytes", model_label(s.id), double(s.gpu_bytes));
  }
  header(out, "hangar_model_in_flight", "gauge", "Requests holding each model now.");
  for (const auto& s : c.models) sample(out, "hangar_model_in_flight", model_label(s.id), double(s.in_flight));
  header(out, "hangar_model_requests_running", "gauge", "Requests in a resident model's engine slots now.");
  for (const auto& g : snap.engines) sample(out, "hangar_model_requests_running", model_label(g.model), g.running);
  header(out, "hangar_model_requests_queued", "gauge",
         "Requests waiting for a free engine slot of a resident model (hangar_requests_waiting: for memory).");
  for (const auto& g : snap.engines) sample(out, "hangar_model_requests_queued", model_label(g.model), g.queued);
  header(out, "hangar_kv_cache_used_bytes", "gauge",
         "KV cache bytes a resident model holds now (running sequences and prefixes kept for reuse).");
  for (const auto& g : snap.engines)
    sample(out, "hangar_kv_cache_used_bytes", model_label(g.model), double(g.kv_used_bytes));
  header(out, "hangar_kv_cache_capacity_bytes", "gauge", "KV cache bytes a resident model reserved.");
  for (const auto& g : snap.engines)
    sample(out, "hangar_kv_cache_capacity_bytes", model_label(g.model), double(g.kv_capacity_bytes));
  header(out, "hangar_kv_cache_usage_ratio", "gauge", "hangar_kv_cache_used_bytes / hangar_kv_cache_capacity_bytes.");
  for (const auto& g : snap.engines)
    sample(out, "hangar_kv_cache_usage_ratio", model_label(g.model),
           g.kv_capacity_bytes ? double(g.kv_used_bytes) / double(g.kv_capacity_bytes) : 0.0);
  single(out, "hangar_memory_used_bytes", "gauge", "Bytes of all resident models.", double(c.bytes_used));
  header(out, "hangar_memory_budget_bytes", "gauge",
         "The effective memory budget (0: none); it follows the machine's free memory.");
  sample(out, "hangar_memory_budget_bytes", "", double(c.bytes_budget));
  single(out, "hangar_models_resident", "gauge", "Models loaded now.", double(resident));
  single(out, "hangar_gpu_memory_used_bytes", "gauge", "GPU bytes of all resident models.", double(c.gpu_bytes_used));
  single(out, "hangar_gpu_memory_budget_bytes", "gauge", "The GPU memory budget (0: no GPU tier).",
         double(c.gpu_bytes_budget));
  single(out, "hangar_model_promotions_total", "counter",
         "Models copied back from host memory to the GPU for a request (not loads).", double(c.promotions));
  single(out, "hangar_model_demotions_total", "counter",
         "Models moved from the GPU to host memory to make room on the GPU.", double(c.demotions));
  single(out, "hangar_process_resident_bytes", "gauge",
         "The server's RSS at the last memory check.", double(snap.monitor.last.process_rss));
  single(out, "hangar_memory_pressure_events_total", "counter",
         "Memory checks that found pressure.", double(snap.monitor.pressure_events));

  const manager::PreloadStats& p = snap.preload;
  single(out, "hangar_preload_queued", "gauge", "Models waiting to be preloaded.", double(p.queued));
  header(out, "hangar_preloads_total", "counter", "Preloads by result.");
  sample(out, "hangar_preloads_total", "result=\"loaded\"", double(p.loaded));
  sample(out, "hangar_preloads_total", "result=\"failed\"", double(p.failed));
  sample(out, "hangar_preloads_total", "result=\"skipped\"", double(p.skipped));
  single(out, "hangar_hash_pending", "gauge", "Models still waiting for their sha256.", double(snap.hashing.pending));
  if (snap.kv_store) render_kv_store(out, *snap.kv_store);
  return out;
}

}  // namespace hangar::api
