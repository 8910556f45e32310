// HttpListener: the server's socket layer: accepts, reads requests under limits, hands them to workers.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "api/api_error.h"
#include "api/http_reader.h"
#include "base/result.h"

namespace httplib {
class Stream;
}

namespace hangar::api {

struct HttpListenerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;                    // 0: any free port
  int threads = 64;                   // requests served at once
  int max_connections = 1024;         // past it the longest-idle connection is closed
  HttpLimits limits;
  int64_t read_timeout_ms = 10000;    // a request's head and body must arrive within this, and
                                      // a complete one waits this long at most for a worker (503)
  int64_t keep_alive_ms = 5000;       // an idle connection is closed after this
  int64_t write_timeout_ms = 5000;    // a client that reads nothing for this long is dropped
  int max_requests_per_connection = 1000;
  // Extra header lines ("Name: value\r\n" each) for a refusal, given what was read of the
  // request's head (CORS headers on a 401 or 413, so that a browser can read it); null: none.
  std::function<std::string(const HttpHead&)> refusal_headers;
};

// One poll thread owns every connection that is idle or still sending its request: such a
// connection costs a file descriptor and at most its request's bytes, never a thread. Only a
// complete request (head and body, within HttpLimits, admitted) goes to one of `threads`
// workers, which runs `serve` (httplib's request processing) on a stream that replays the
// request and writes to the socket; the connection then returns to the poll thread for the
// next request. So slow or idle clients cannot hold the workers, and no request waits forever:
// past its deadline it gets a 408 (still sending) or 503 (no worker free). Errors the listener
// answers itself are OpenAI error objects and close the connection.
class HttpListener {
 public:
  // Decides on a request from its head alone, before its body is read (the API key check):
  // an error refuses it. Called on the poll thread; must not block.
  using Admit = std::function<MaybeError(const HttpHead& head)>;
  // Serves one request on a worker thread; returns false when the connection must close.
  // `close_connection`: answer with "Connection: close"; `connection_closed` set by `serve`
  // when the client asked for it.
  using Serve = std::function<bool(httplib::Stream& stream, bool close_connection, bool* connection_closed)>;
  // Told the status of every request the listener answered itself (metrics).
  using Refused = std::function<void(int status)>;

  HttpListener(HttpListenerOptions options, Admit admit, Serve serve, Refused refused);
  ~HttpListener();
  HttpListener(const HttpListener&) = delete;
  HttpListener& operator=(const HttpListener&) = delete;

  // Binds and listens (no SO_REUSEPORT: a busy port is an error naming the address).
  Status bind();
  int port() const { return port_; }
  // Runs the poll loop and the workers until stop(); returns at once if not bound. On stop,
  // queued requests get a 503, requests being served finish (the caller cancels them), then
  // every connection is closed.
  void run();
  // Thread-safe; may be called before run().
  void stop();
  // Graceful shutdown, before stop(): the listening socket closes (new connections are
  // refused), idle connections close, a request still arriving gets a 503 with Retry-After,
  // and requests already received (queued or being served) go on, their connections closing
  // once answered. Thread-safe.
  void drain();
  // Waits up to timeout_ms for no request to be queued or served; true once there is none.
  bool wait_idle(int64_t timeout_ms);
  // Requests queued or being served now.
  int in_service() const;

  // Whether the client at ip:port, whose request a worker is serving, is still connected.
  // Thread-safe; false for unknown peers.
  bool peer_connected(const std::string& ip, int port) const;

 private:
  struct Conn;

  void poll_loop();
  void worker_loop();
  void accept_all(int64_t now);
  void on_readable(Conn& c, int64_t now);
  void advance(Conn& c, int64_t now);
  void on_writable(Conn& c, int64_t now);
  void on_deadline(Conn& c, int64_t now);
  void take_returned(int64_t now);
  void refuse(Conn& c, const ApiError& error, int64_t now);
  void send_out(Conn& c, int64_t now);
  void close_conn(int fd);
  Conn* eviction_victim();
  bool evict_one();
  void wake();
  void served_one();  // under mu_: a queued or busy request left

  HttpListenerOptions options_;
  Admit admit_;
  Serve serve_;
  Refused refused_;
  int listen_fd_ = -1;
  int wake_fd_ = -1;
  int port_ = -1;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> draining_{false};

  std::unordered_map<int, std::unique_ptr<Conn>> conns_;  // poll thread only
  uint64_t events_ = 0;                                   // poll thread only

  // Shared between the poll thread and the workers.
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Conn*> ready_;                      // complete requests waiting for a worker
  std::vector<std::pair<Conn*, bool>> returned_;  // served: (connection, keep it open)
  bool workers_stop_ = false;
  int in_service_ = 0;                           // queued or busy requests
  std::condition_variable idle_cv_;              // in_service_ fell to 0
  std::vector<std::thread> workers_;

  mutable std::mutex peers_mu_;
  std::map<std::pair<std::string, int>, int> peers_;  // connections being served: peer -> fd
};

}  // namespace hangar::api
