// GET /metrics: the Prometheus text exposition of the server's counters and the manager's state.
#include "api/routes.h"

namespace hangar::api {

void add_metrics_routes(httplib::Server& http, ServerContext& ctx) {
  http.Get("/metrics", [&ctx](const httplib::Request&, httplib::Response& res) {
    ManagerSnapshot snap;
    snap.cache = ctx.manager.cache().stats();
    // Holding a loaded model here keeps it alive for the read; it is not a lease, not a use.
    for (const auto& [id, model] : ctx.manager.cache().loaded_models()) {
      manager::EngineModel* em = model->engine_model();
      if (em == nullptr) continue;
      const engine::SchedulerStats s = em->scheduler().stats();
      snap.engines.push_back({id, s.running, s.queued, s.kv_used_bytes, em->memory().kv_capacity});
    }
    snap.preload = ctx.manager.preloader().stats();
    snap.monitor = ctx.manager.monitor().stats();
    snap.hashing = ctx.manager.hasher().progress();
    if (ctx.options.kv_store) snap.kv_store = ctx.options.kv_store->stats();
    res.set_content(ctx.metrics.render(snap), "text/plain; version=0.0.4; charset=utf-8");
  });
}

}  // namespace hangar::api
