// Server: the HTTP front of hangar serve (cpp-httplib), with auth, limits and every route.
#pragma once

#include <atomic>
#include <memory>

#include "api/context.h"
#include "base/result.h"
#include "manager/manager.h"

namespace httplib {
class Server;
}

namespace hangar::api {

// Routes: OpenAI (/v1/models, /v1/models/{id}, /v1/chat/completions, /v1/completions),
// management (/v1/models/stats, /v1/models/refresh, /v1/models/{id}/load|preload|pin|verify,
// DELETE /v1/models/{id}), and /tokenize, /detokenize, /apply-template, /health, /metrics.
// With an API key every route but /health needs "Authorization: Bearer KEY". Errors are
// OpenAI error objects. Each connection is served on one of options.http_threads threads;
// generation requests block theirs while they wait on their model's scheduler.
// The manager must be open (and started by the caller) and must outlive the server.
class Server {
 public:
  Server(manager::Manager& manager, ServerOptions options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds the listening socket; an error names the address when it cannot.
  Status bind();
  // The bound port (the chosen one when options.port was 0); valid after bind().
  int port() const { return port_; }
  // Serves until stop(); returns at once if not bound.
  void run();
  // Stops accepting and ends run(). Thread-safe; may be called before run() starts.
  void stop();

 private:
  void install_handlers();

  std::unique_ptr<ServerContext> ctx_;
  std::unique_ptr<httplib::Server> http_;
  int port_ = -1;
  // httplib's stop() only works once its loop runs; these close the gap between run() being
  // called and the loop starting.
  std::atomic<bool> stopping_{false}, run_entered_{false}, run_exited_{false};
};

}  // namespace hangar::api
