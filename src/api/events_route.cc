// GET /v1/models/events: the manager's model state changes as a server-sent event stream.
#include <chrono>

#include "api/routes.h"
#include "api/sse.h"

namespace hangar::api {
namespace {

using namespace std::chrono_literals;

// How long a stream waits for an event before it looks at the server's state again, and how
// long it stays silent before a comment line tells proxies that it is alive.
constexpr auto kPoll = 250ms;
constexpr auto kKeepAlive = 15s;

Json event_json(const manager::ModelEvent& ev) {
  Json j;
  j["type"] = ev.type;
  j["model"] = ev.model;
  for (const auto& [key, value] : ev.fields) std::visit([&, k = &key](const auto& v) { j[*k] = v; }, value);
  j["seq"] = ev.seq;
  j["time_ms"] = ev.time_ms;
  return j;
}

}  // namespace

void add_event_routes(httplib::Server& http, ServerContext& ctx) {
  http.Get("/v1/models/events", [&ctx](const httplib::Request&, httplib::Response& res) {
    std::shared_ptr<manager::EventSubscription> sub = ctx.manager.events().subscribe();
    res.set_header("Cache-Control", "no-cache");
    res.set_header("X-Accel-Buffering", "no");
    auto quiet_since = std::make_shared<std::chrono::steady_clock::time_point>(std::chrono::steady_clock::now());
    auto opened = std::make_shared<bool>(false);
    res.set_chunked_content_provider(
        "text/event-stream",
        [&ctx, sub, quiet_since, opened](size_t, httplib::DataSink& sink) {
          auto write = [&](const std::string& s) { return sink.write(s.data(), s.size()); };
          if (!*opened) {
            *opened = true;  // headers and a first line at once: clients know they are subscribed
            return write(": subscribed to hangar model events\n\n");
          }
          if (ctx.stopping || ctx.draining || sub->closed()) {
            sink.done();
            return true;
          }
          if (uint64_t lost = sub->take_dropped())
            if (!write(sse_event(Json{{"type", "dropped"}, {"count", lost}}))) return false;
          std::optional<manager::ModelEvent> ev = sub->next(kPoll);
          const auto now = std::chrono::steady_clock::now();
          if (ev) {
            *quiet_since = now;
            return write(sse_event(event_json(*ev)));
          }
          if (now - *quiet_since >= kKeepAlive) {
            *quiet_since = now;
            return write(": keep-alive\n\n");
          }
          return true;
        });
  });
}

}  // namespace hangar::api
