// Metrics: histogram buckets and the Prometheus text exposition.
#include "api/metrics.h"

#include <gtest/gtest.h>

#include <tuple>

namespace hangar::api {
namespace {

bool has_line(const std::string& text, const std::string& line) {
  return text.find("\n" + line + "\n") != std::string::npos || text.rfind(line + "\n", 0) == 0;
}

TEST(Histogram, CumulativeBuckets) {
  Histogram h({1, 5, 10});
  for (double v : {0.5, 1.0, 3.0, 7.0, 20.0}) h.observe(v);
  EXPECT_EQ(h.cumulative(0), 2u);  // <= 1
  EXPECT_EQ(h.cumulative(1), 3u);  // <= 5
  EXPECT_EQ(h.cumulative(2), 4u);  // <= 10
  EXPECT_EQ(h.count(), 5u);
  EXPECT_DOUBLE_EQ(h.sum(), 31.5);
}

TEST(Metrics, RendersRequestsTokensAndHistogramsPerModel) {
  Metrics m;
  m.record_generation({"qwen", "chat", "ok", 10, 4, 20, 0.03, 150});
  m.record_generation({"qwen", "chat", "cancelled", 5, 0, 2, 0.2, 0});
  m.record_generation({"llama", "completions", "ok", 3, 0, 1, -1, 0});
  m.record_http(200);
  m.record_http(404);
  ManagerSnapshot snap;
  snap.cache.hits = 3;
  snap.cache.misses = 1;
  snap.cache.unloads[static_cast<int>(manager::EvictionReason::kPolicy)] = 2;
  snap.cache.unloads[static_cast<int>(manager::EvictionReason::kPressure)] = 1;
  snap.cache.queue_full = 4;
  snap.cache.loads = 4;
  snap.cache.bytes_used = 1000;
  snap.cache.bytes_budget = 5000;
  manager::ModelStatus st;
  st.id = "qwen";
  st.state = manager::ModelState::kLoaded;
  st.bytes = 1000;
  snap.cache.models.push_back(st);
  snap.engines.push_back({"qwen", 2, 3, 256, 1024});
  const std::string text = m.render(snap);
  EXPECT_TRUE(has_line(text, "hangar_requests_total{model=\"qwen\",endpoint=\"chat\",outcome=\"ok\"} 1")) << text;
  EXPECT_TRUE(has_line(text, "hangar_requests_total{model=\"qwen\",endpoint=\"chat\",outcome=\"cancelled\"} 1"));
  EXPECT_TRUE(has_line(text, "hangar_prompt_tokens_total{model=\"qwen\"} 15"));
  EXPECT_TRUE(has_line(text, "hangar_prompt_tokens_cached_total{model=\"qwen\"} 4"));
  EXPECT_TRUE(has_line(text, "hangar_generated_tokens_total{model=\"llama\"} 1"));
  EXPECT_TRUE(has_line(text, "hangar_time_to_first_token_seconds_bucket{model=\"qwen\",le=\"0.05\"} 1"));
  EXPECT_TRUE(has_line(text, "hangar_time_to_first_token_seconds_bucket{model=\"qwen\",le=\"+Inf\"} 2"));
  EXPECT_TRUE(has_line(text, "hangar_time_to_first_token_seconds_count{model=\"llama\"} 0"));
  EXPECT_TRUE(has_line(text, "hangar_decode_tokens_per_second_bucket{model=\"qwen\",le=\"200\"} 1"));
  EXPECT_TRUE(has_line(text, "hangar_decode_tokens_per_second_bucket{model=\"qwen\",le=\"100\"} 0"));
  EXPECT_TRUE(has_line(text, "hangar_http_responses_total{code=\"404\"} 1"));
  EXPECT_TRUE(has_line(text, "hangar_model_evictions_total 2"));
  EXPECT_TRUE(has_line(text, "hangar_model_unloads_total{reason=\"policy\"} 2"));
  EXPECT_TRUE(has_line(text, "hangar_model_unloads_total{reason=\"memory_pressure\"} 1"));
  EXPECT_TRUE(has_line(text, "hangar_model_unloads_total{reason=\"settings_change\"} 0"));
  EXPECT_TRUE(has_line(text, "hangar_requests_rejected_total{reason=\"queue_full\"} 4"));
  EXPECT_TRUE(has_line(text, "hangar_requests_waiting{model=\"qwen\"} 0"));
  EXPECT_TRUE(has_line(text, "hangar_cache_hit_ratio 0.75"));
  EXPECT_TRUE(has_line(text, "hangar_model_memory_bytes{model=\"qwen\"} 1000"));
  EXPECT_TRUE(has_line(text, "hangar_memory_budget_bytes 5000"));
  EXPECT_TRUE(has_line(text, "hangar_models_resident 1"));
  EXPECT_TRUE(has_line(text, "hangar_model_requests_running{model=\"qwen\"} 2"));
  EXPECT_TRUE(has_line(text, "hangar_model_requests_queued{model=\"qwen\"} 3"));
  EXPECT_TRUE(has_line(text, "hangar_kv_cache_used_bytes{model=\"qwen\"} 256"));
  EXPECT_TRUE(has_line(text, "hangar_kv_cache_capacity_bytes{model=\"qwen\"} 1024"));
  EXPECT_TRUE(has_line(text, "hangar_kv_cache_usage_ratio{model=\"qwen\"} 0.25"));
  EXPECT_TRUE(has_line(text, "# TYPE hangar_time_to_first_token_seconds histogram"));
}

TEST(Metrics, EachModelsTierAndTheGpuMemory) {
  Metrics m;
  ManagerSnapshot snap;
  snap.cache.gpu_bytes_used = 700;
  snap.cache.gpu_bytes_budget = 1000;
  snap.cache.promotions = 3;
  snap.cache.demotions = 4;
  for (auto [id, tier, state] : {std::tuple{"big", manager::ModelTier::kGpu, manager::ModelState::kLoaded},
                                 std::tuple{"cold", manager::ModelTier::kHost, manager::ModelState::kLoaded},
                                 std::tuple{"gone", manager::ModelTier::kDisk, manager::ModelState::kUnloaded}}) {
    manager::ModelStatus st;
    st.id = id;
    st.state = state;
    st.tier = tier;
    st.gpu_bytes = tier == manager::ModelTier::kGpu ? 700 : 0;
    snap.cache.models.push_back(st);
  }
  const std::string text = m.render(snap);
  EXPECT_TRUE(has_line(text, "hangar_model_tier{model=\"big\",tier=\"gpu\"} 1")) << text;
  EXPECT_TRUE(has_line(text, "hangar_model_tier{model=\"big\",tier=\"host\"} 0"));
  EXPECT_TRUE(has_line(text, "hangar_model_tier{model=\"cold\",tier=\"host\"} 1"));
  EXPECT_TRUE(has_line(text, "hangar_model_tier{model=\"cold\",tier=\"gpu\"} 0"));
  EXPECT_TRUE(has_line(text, "hangar_model_tier{model=\"gone\",tier=\"disk\"} 1"));
  EXPECT_TRUE(has_line(text, "hangar_model_gpu_memory_bytes{model=\"big\"} 700"));
  EXPECT_TRUE(has_line(text, "hangar_model_gpu_memory_bytes{model=\"cold\"} 0"));
  EXPECT_EQ(text.find("hangar_model_gpu_memory_bytes{model=\"gone\"}"), std::string::npos);
  EXPECT_TRUE(has_line(text, "hangar_gpu_memory_used_bytes 700"));
  EXPECT_TRUE(has_line(text, "hangar_gpu_memory_budget_bytes 1000"));
  EXPECT_TRUE(has_line(text, "hangar_model_promotions_total 3"));
  EXPECT_TRUE(has_line(text, "hangar_model_demotions_total 4"));
}

TEST(Metrics, LabelValuesAreEscaped) {
  EXPECT_EQ(prometheus_label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
}

}  // namespace
}  // namespace hangar::api
