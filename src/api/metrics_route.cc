// GET /metrics: the Prometheus text exposition of the server's counters and the manager's state.
#include "api/routes.h"

namespace hangar::api {

void add_metrics_routes(httplib::Server& http, ServerContext& ctx) {
  http.Get("/metrics", [&ctx](const httplib::Request&, httplib::Response& res) {
    ManagerSnapshot snap;
    snap.cache = ctx.manager.cache().stats();
    snap.preload = ctx.manager.preloader().stats();
    snap.monitor = ctx.manager.monitor().stats();
    snap.hashing = ctx.manager.hasher().progress();
    if (ctx.options.kv_store) snap.kv_store = ctx.options.kv_store->stats();
    res.set_content(ctx.metrics.render(snap), "text/plain; version=0.0.4; charset=utf-8");
  });
}

}  // namespace hangar::api
