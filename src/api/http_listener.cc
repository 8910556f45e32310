// HttpListener: the poll loop over connections, the worker pool, and the stream httplib uses.
#include "api/http_listener.h"

#include <arpa/inet.h>
#include <httplib.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>

#include "base/clock.h"
#include "base/log.h"

namespace hangar::api {
namespace {

constexpr size_t kReadChunk = 64 << 10;
constexpr int kReadsPerWakeup = 4;   // a busy client cannot keep the poll thread to itself
constexpr int64_t kLingerMs = 2000;  // after an early close, how long the client's excess is drained

const char* reason_phrase(int status) {
  switch (status) {
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 408: return "Request Timeout";
    case 413: return "Payload Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 417: return "Expectation Failed";
    case 431: return "Request Header Fields Too Large";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return "Error";
  }
}

std::string error_reply(const ApiError& e, const std::string& extra_headers = "") {
  const std::string body = e.to_json().dump();
  std::string out = "HTTP/1.1 " + std::to_string(e.status) + " " + reason_phrase(e.status) + "\r\n";
  out += "Content-Type: application/json; charset=utf-8\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\nConnection: close\r\n";
  if (e.status == 503) out += "Retry-After: 1\r\n";
  return out + extra_headers + "\r\n" + body;
}

// The refusal of a request that arrives while the server shuts down: another replica may take it.
ApiError shutting_down() {
  return api_error(503, "the server is shutting down; retry (another replica)", "shutting_down");
}

void endpoint_of(const sockaddr_storage& a, std::string* ip, int* port) {
  char buf[INET6_ADDRSTRLEN] = "";
  if (a.ss_family == AF_INET) {
    const auto& in = reinterpret_cast<const sockaddr_in&>(a);
    inet_ntop(AF_INET, &in.sin_addr, buf, sizeof(buf));
    *port = ntohs(in.sin_port);
  } else if (a.ss_family == AF_INET6) {
    const auto& in6 = reinterpret_cast<const sockaddr_in6&>(a);
    inet_ntop(AF_INET6, &in6.sin6_addr, buf, sizeof(buf));
    *port = ntohs(in6.sin6_port);
  }
  *ip = buf;
}

// A connection whose peer closed (or reset) it reads as end of file or an error; bytes of a
// next request read as alive.
bool peer_alive(int fd) {
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, 0) < 0) return false;
  if (p.revents & (POLLERR | POLLHUP | POLLNVAL)) return false;
  if (!(p.revents & POLLIN)) return true;
  char b = 0;
  const ssize_t n = ::recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
  return n > 0 || (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR));
}

// What httplib reads one request from (the re-framed bytes) and writes its response to.
class ConnStream final : public httplib::Stream {
 public:
  ConnStream(int fd, const std::string& request, std::string peer_ip, int peer_port, std::string local_ip,
             int local_port, int64_t write_timeout_ms)
      : fd_(fd), request_(request), peer_ip_(std::move(peer_ip)), local_ip_(std::move(local_ip)),
        peer_port_(peer_port), local_port_(local_port), write_timeout_ms_(write_timeout_ms) {}

  bool is_readable() const override { return pos_ < request_.size(); }
  bool is_writable() const override { return wait_writable() && peer_alive(fd_); }

  ssize_t read(char* ptr, size_t size) override {
    const size_t n = std::min(size, request_.size() - pos_);
    std::memcpy(ptr, request_.data() + pos_, n);
    pos_ += n;
    return static_cast<ssize_t>(n);
  }

  ssize_t write(const char* ptr, size_t size) override {
    size_t done = 0;
    while (done < size) {
      const ssize_t n = ::send(fd_, ptr + done, size - done, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n > 0) {
        done += static_cast<size_t>(n);
      } else if (n < 0 && errno == EINTR) {
        continue;
      } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && wait_writable()) {
        continue;
      } else {
        return -1;
      }
    }
    return static_cast<ssize_t>(size);
  }

  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    ip = peer_ip_;
    port = peer_port_;
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    ip = local_ip_;
    port = local_port_;
  }
  socket_t socket() const override { return fd_; }

 private:
  bool wait_writable() const {
    pollfd p{fd_, POLLOUT, 0};
    int r = 0;
    do {
      r = ::poll(&p, 1, static_cast<int>(write_timeout_ms_));
    } while (r < 0 && errno == EINTR);
    return r > 0 && (p.revents & POLLOUT) && !(p.revents & (POLLERR | POLLHUP | POLLNVAL));
  }

  int fd_;
  const std::string& request_;
  size_t pos_ = 0;
  std::string peer_ip_, local_ip_;
  int peer_port_, local_port_;
  int64_t write_timeout_ms_;
};

}  // namespace

struct HttpListener::Conn {
  // kReading: idle or receiving a request; kQueued: complete, waiting for a worker; kBusy: a
  // worker serves it (the poll thread leaves it alone); kReply: writing an error; kLinger:
  // closed for writing, draining what the client still sends so that it reads our answer.
  enum class Phase { kReading, kQueued, kBusy, kReply, kLinger };

  explicit Conn(const HttpLimits& limits) : reader(limits) {}
  int fd = -1;
  bool dead = false;
  std::string peer_ip, local_ip;
  int peer_port = 0, local_port = 0;
  std::atomic<Phase> phase{Phase::kReading};
  HttpRequestReader reader;
  bool admitted = false;
  std::string in;       // received, not yet parsed (a partial line, or a pipelined request)
  std::string request;  // complete and re-framed, for the worker
  std::string out;      // an error reply not yet written
  int64_t deadline = 0;
  uint64_t last_active = 0;  // the listener's event count at its last activity (for eviction)
  int served = 0;
};

namespace {
int64_t now_ms() { return SteadyClock().now_ms(); }
}  // namespace

HttpListener::HttpListener(HttpListenerOptions options, Admit admit, Serve serve, Refused refused)
    : options_(std::move(options)), admit_(std::move(admit)), serve_(std::move(serve)), refused_(std::move(refused)) {}

HttpListener::~HttpListener() {
  stop();
  for (auto& t : workers_)
    if (t.joinable()) t.join();
  for (auto& [fd, c] : conns_)
    if (c->fd >= 0) ::close(c->fd);
  if (listen_fd_ >= 0) ::close(listen_fd_);
  if (wake_fd_ >= 0) ::close(wake_fd_);
}

Status HttpListener::bind() {
  const std::string where = options_.host + ":" + std::to_string(options_.port);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const std::string port = std::to_string(options_.port);
  if (int rc = ::getaddrinfo(options_.host.c_str(), port.c_str(), &hints, &found); rc != 0)
    return Error("cannot listen on " + where + ": unknown host (--host): " + gai_strerror(rc));
  std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> guard(found, freeaddrinfo);
  const int fd = ::socket(found->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return Error("cannot listen on " + where + ": " + std::strerror(errno));
  // SO_REUSEADDR lets a restarted server bind while old connections linger in TIME_WAIT; unlike
  // SO_REUSEPORT (which httplib sets) it does not let a second server share a listening port.
  const int yes = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  if (::bind(fd, found->ai_addr, found->ai_addrlen) != 0 || ::listen(fd, SOMAXCONN) != 0) {
    const int err = errno;
    ::close(fd);
    if (err == EADDRINUSE)
      return Error("cannot listen on " + where + ": address in use (another server listens there; choose another --port)");
    if (err == EACCES) return Error("cannot listen on " + where + ": permission denied (see --port)");
    if (err == EADDRNOTAVAIL) return Error("cannot listen on " + where + ": not an address of this machine (see --host)");
    return Error("cannot listen on " + where + ": " + std::strerror(err));
  }
  sockaddr_storage local{};
  socklen_t len = sizeof(local);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len);
  std::string ip;
  endpoint_of(local, &ip, &port_);
  listen_fd_ = fd;
  wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd_ < 0) return Error(std::string("cannot create the listener's wake-up event: ") + std::strerror(errno));
  return Status::Ok();
}

void HttpListener::run() {
  if (listen_fd_ < 0) return;
  for (int i = 0; i < options_.threads; ++i) workers_.emplace_back([this] { worker_loop(); });
  poll_loop();
}

void HttpListener::stop() {
  stopping_ = true;
  wake();
}

void HttpListener::drain() {
  draining_ = true;
  wake();
}

bool HttpListener::wait_idle(int64_t timeout_ms) {
  std::unique_lock lock(mu_);
  return idle_cv_.wait_for(lock, std::chrono::milliseconds(std::max<int64_t>(timeout_ms, 0)),
                           [&] { return in_service_ == 0; });
}

int HttpListener::in_service() const {
  std::lock_guard lock(mu_);
  return in_service_;
}

void HttpListener::served_one() {
  if (--in_service_ == 0) idle_cv_.notify_all();
}

void HttpListener::wake() {
  if (wake_fd_ < 0) return;
  const uint64_t one = 1;
  [[maybe_unused]] ssize_t n = ::write(wake_fd_, &one, sizeof(one));
}

bool HttpListener::peer_connected(const std::string& ip, int port) const {
  std::lock_guard lock(peers_mu_);
  auto it = peers_.find({ip, port});
  // Held under the lock: the worker removes its peer before the poll thread may close the fd.
  return it != peers_.end() && peer_alive(it->second);
}

void HttpListener::poll_loop() {
  std::vector<pollfd> fds;
  std::vector<Conn*> polled;
  while (!stopping_) {
    if (draining_ && listen_fd_ >= 0) {
      // New connections are refused from now on. Idle ones close now: a proxy (HAProxy's
      // retry-on empty-response) or client then sends its next request elsewhere. A request
      // already arriving gets a 503 (advance), and served ones close when answered.
      ::close(listen_fd_);
      listen_fd_ = -1;
      for (auto& [fd, c] : conns_)
        if (c->phase == Conn::Phase::kReading && !c->reader.started() && c->in.empty()) close_conn(c->fd);
      std::erase_if(conns_, [](const auto& kv) { return kv.second->dead; });
    }
    int64_t now = now_ms();
    fds.clear();
    polled.clear();
    fds.push_back({wake_fd_, POLLIN, 0});
    // Past max_connections a new one is accepted only if an idle one can make room.
    const bool accepting = listen_fd_ >= 0 && (static_cast<int>(conns_.size()) < options_.max_connections ||
                                               eviction_victim() != nullptr);
    fds.push_back({accepting ? listen_fd_ : -1, POLLIN, 0});
    int64_t next = now + 60000;
    for (auto& [fd, c] : conns_) {
      const Conn::Phase phase = c->phase;
      if (phase == Conn::Phase::kBusy) continue;
      next = std::min(next, c->deadline);
      if (phase == Conn::Phase::kQueued) continue;
      fds.push_back({c->fd, static_cast<short>(phase == Conn::Phase::kReply ? POLLOUT : POLLIN), 0});
      polled.push_back(c.get());
    }
    const int r = ::poll(fds.data(), fds.size(), static_cast<int>(std::clamp<int64_t>(next - now, 0, 60000)));
    if (r < 0 && errno != EINTR) {
      log_error(std::string("http: poll failed: ") + std::strerror(errno));
      break;
    }
    now = now_ms();
    if (fds[0].revents & POLLIN) {
      uint64_t v = 0;
      [[maybe_unused]] ssize_t n = ::read(wake_fd_, &v, sizeof(v));
    }
    take_returned(now);
    for (size_t i = 0; i < polled.size(); ++i) {
      Conn& c = *polled[i];
      const short ev = fds[i + 2].revents;
      if (c.dead || ev == 0) continue;
      if (c.phase == Conn::Phase::kReply) {
        if (ev & (POLLERR | POLLHUP)) close_conn(c.fd);
        else send_out(c, now);
      } else {
        on_readable(c, now);  // an error or hang-up shows as recv() failing
      }
    }
    std::erase_if(conns_, [](const auto& kv) { return kv.second->dead; });  // before fds are reused
    if (fds[1].revents & POLLIN) accept_all(now);
    for (auto& [fd, c] : conns_)
      if (!c->dead && c->phase != Conn::Phase::kBusy && c->deadline <= now) on_deadline(*c, now);
    std::erase_if(conns_, [](const auto& kv) { return kv.second->dead; });
  }

  // Stopping: no new connections; queued requests are refused; served ones finish first.
  if (listen_fd_ >= 0) ::close(listen_fd_);
  listen_fd_ = -1;
  std::deque<Conn*> queued;
  {
    std::lock_guard lock(mu_);
    queued.swap(ready_);
    workers_stop_ = true;
  }
  cv_.notify_all();
  const int64_t now = now_ms();
  for (Conn* c : queued) {
    {
      std::lock_guard lock(mu_);
      served_one();
    }
    c->phase = Conn::Phase::kReading;
    refuse(*c, api_error(503, "the server is stopping"), now);
  }
  // A request still arriving (a head, or a body after its head was taken, neither counted in
  // flight) gets the answer a draining listener gives it, also when the stop came right after
  // drain() and this loop never saw the drain.
  for (auto& [fd, c] : conns_)
    if (!c->dead && c->phase == Conn::Phase::kReading && (c->reader.started() || !c->in.empty()))
      refuse(*c, shutting_down(), now);
  for (auto& t : workers_) t.join();
  workers_.clear();
  take_returned(now);
  for (auto& [fd, c] : conns_)
    if (!c->dead) close_conn(c->fd);
  conns_.clear();
}

void HttpListener::worker_loop() {
  for (;;) {
    Conn* c = nullptr;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return workers_stop_ || !ready_.empty(); });
      if (ready_.empty()) return;
      c = ready_.front();
      ready_.pop_front();
      c->phase = Conn::Phase::kBusy;
    }
    {
      std::lock_guard lock(peers_mu_);
      peers_[{c->peer_ip, c->peer_port}] = c->fd;
    }
    ConnStream stream(c->fd, c->request, c->peer_ip, c->peer_port, c->local_ip, c->local_port,
                      options_.write_timeout_ms);
    const bool close = stopping_ || draining_ || c->served + 1 >= options_.max_requests_per_connection;
    bool closed = false;
    const bool ok = serve_(stream, close, &closed);
    ++c->served;
    {
      std::lock_guard lock(peers_mu_);
      peers_.erase({c->peer_ip, c->peer_port});
    }
    {
      std::lock_guard lock(mu_);
      returned_.emplace_back(c, ok && !close && !closed);
      served_one();
    }
    wake();
  }
}

void HttpListener::take_returned(int64_t now) {
  std::vector<std::pair<Conn*, bool>> back;
  {
    std::lock_guard lock(mu_);
    back.swap(returned_);
  }
  for (auto& [c, keep] : back) {
    c->request = std::string();
    c->last_active = ++events_;
    if (!keep || draining_) {
      ::shutdown(c->fd, SHUT_WR);
      c->phase = Conn::Phase::kLinger;
      c->deadline = now + kLingerMs;
      continue;
    }
    c->phase = Conn::Phase::kReading;
    c->reader.reset();
    c->admitted = false;
    c->deadline = now + (c->in.empty() ? options_.keep_alive_ms : options_.read_timeout_ms);
    if (!c->in.empty()) advance(*c, now);  // a pipelined request
  }
}

HttpListener::Conn* HttpListener::eviction_victim() {
  // Cheapest to lose first: connections already answered, then idle ones, then the oldest
  // still sending its request. Queued and busy ones are never dropped.
  auto rank = [](const Conn& c) {
    if (c.phase == Conn::Phase::kLinger) return 0;
    if (c.phase == Conn::Phase::kReading) return c.reader.started() ? 2 : 1;
    return 3;
  };
  Conn* victim = nullptr;
  for (auto& [fd, c] : conns_) {
    if (c->dead || rank(*c) == 3) continue;
    if (!victim || rank(*c) < rank(*victim) || (rank(*c) == rank(*victim) && c->last_active < victim->last_active))
      victim = c.get();
  }
  return victim;
}

bool HttpListener::evict_one() {
  Conn* victim = eviction_victim();
  if (!victim) return false;
  log_debug("http: connection limit reached; closing the connection from " + victim->peer_ip + ":" +
            std::to_string(victim->peer_port));
  close_conn(victim->fd);
  std::erase_if(conns_, [](const auto& kv) { return kv.second->dead; });
  return true;
}

void HttpListener::accept_all(int64_t now) {
  for (;;) {
    sockaddr_storage peer{};
    socklen_t len = sizeof(peer);
    const int fd = ::accept4(listen_fd_, reinterpret_cast<sockaddr*>(&peer), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno == EMFILE || errno == ENFILE) {
        // Out of descriptors: make room, or leave the rest in the backlog until a close.
        log_error("http: out of file descriptors with " + std::to_string(conns_.size()) +
                  " connections open (lower --max-connections or raise ulimit -n)");
        if (evict_one()) continue;
      }
      return;
    }
    if (static_cast<int>(conns_.size()) >= options_.max_connections && !evict_one()) {
      ::close(fd);
      return;
    }
    auto c = std::make_unique<Conn>(options_.limits);
    c->fd = fd;
    endpoint_of(peer, &c->peer_ip, &c->peer_port);
    sockaddr_storage local{};
    len = sizeof(local);
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len);
    endpoint_of(local, &c->local_ip, &c->local_port);
    // Streamed tokens are small writes that must not wait for the client's delayed ACK.
    const int yes = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &yes, sizeof(yes));
    c->deadline = now + options_.keep_alive_ms;
    c->last_active = ++events_;
    conns_.emplace(fd, std::move(c));
  }
}

void HttpListener::on_readable(Conn& c, int64_t now) {
  char buf[kReadChunk];
  for (int i = 0; i < kReadsPerWakeup && !c.dead; ++i) {
    const ssize_t n = ::recv(c.fd, buf, sizeof(buf), MSG_DONTWAIT);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    if (n <= 0) {
      close_conn(c.fd);  // the client closed or reset it: nobody to answer
      return;
    }
    c.last_active = ++events_;
    if (c.phase == Conn::Phase::kLinger) continue;  // drained and dropped
    if (!c.reader.started() && c.in.empty()) c.deadline = now + options_.read_timeout_ms;
    c.in.append(buf, static_cast<size_t>(n));
    advance(c, now);
    if (c.phase != Conn::Phase::kReading) return;
  }
}

void HttpListener::advance(Conn& c, int64_t now) {
  using State = HttpRequestReader::State;
  for (;;) {
    const State s = c.reader.feed(c.in);
    if (s == State::kFailed) return refuse(c, api_error(c.reader.error_status(), c.reader.error_message()), now);
    if (s != State::kHead && !c.admitted) {
      c.admitted = true;
      if (draining_) return refuse(c, shutting_down(), now);
      if (MaybeError e = admit_(c.reader.head()))
        return refuse(c, *e, now);
      if (c.reader.expects_continue()) {
        static constexpr char kContinue[] = "HTTP/1.1 100 Continue\r\n\r\n";
        if (::send(c.fd, kContinue, sizeof(kContinue) - 1, MSG_NOSIGNAL | MSG_DONTWAIT) !=
            static_cast<ssize_t>(sizeof(kContinue) - 1))
          return close_conn(c.fd);
      }
      if (s == State::kBody) continue;  // the head is admitted: now take the body bytes
    }
    if (s != State::kComplete) return;
    c.request = c.reader.take_request();
    c.deadline = now + options_.read_timeout_ms;  // the longest wait for a worker
    std::lock_guard lock(mu_);
    c.phase = Conn::Phase::kQueued;
    ready_.push_back(&c);
    ++in_service_;
    cv_.notify_one();
    return;
  }
}

void HttpListener::on_deadline(Conn& c, int64_t now) {
  switch (c.phase.load()) {
    case Conn::Phase::kReading:
      if (!c.reader.started() && c.in.empty()) return close_conn(c.fd);  // idle
      return refuse(c,
                    api_error(408, "the request was not received within " +
                                       std::to_string(options_.read_timeout_ms / 1000) + " s (--read-timeout)"),
                    now);
    case Conn::Phase::kQueued: {
      {
        std::lock_guard lock(mu_);
        auto it = std::find(ready_.begin(), ready_.end(), &c);
        if (it == ready_.end()) return;  // a worker took it just now
        ready_.erase(it);
        served_one();
      }
      c.phase = Conn::Phase::kReading;
      return refuse(c,
                    api_error(503, "all " + std::to_string(options_.threads) +
                                       " HTTP threads are busy (see --http-threads); retry later",
                              "server_busy"),
                    now);
    }
    case Conn::Phase::kReply:
    case Conn::Phase::kLinger: return close_conn(c.fd);
    case Conn::Phase::kBusy: return;
  }
}

void HttpListener::refuse(Conn& c, const ApiError& error, int64_t now) {
  // What was read of the head (all of it past kHead; maybe none) decides the extra lines: a
  // 413 or 408 to a browser carries its CORS headers as a 401 does.
  const std::string extra_headers = options_.refusal_headers ? options_.refusal_headers(c.reader.head()) : "";
  log_debug("http: " + std::to_string(error.status) + " to " + c.peer_ip + ":" + std::to_string(c.peer_port) + ": " +
            error.message);
  if (refused_) refused_(error.status);
  c.out = error_reply(error, extra_headers);
  c.in = std::string();
  c.request = std::string();
  c.reader.reset();  // frees a partial body now
  c.phase = Conn::Phase::kReply;
  c.deadline = now + options_.write_timeout_ms;
  send_out(c, now);
}

void HttpListener::send_out(Conn& c, int64_t now) {
  while (!c.out.empty()) {
    const ssize_t n = ::send(c.fd, c.out.data(), c.out.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;  // POLLOUT will call again
    if (n <= 0) return close_conn(c.fd);
    c.out.erase(0, static_cast<size_t>(n));
  }
  // Closing with unread input would reset the connection, and the client could lose the
  // answer: half-close and drain for a while instead.
  ::shutdown(c.fd, SHUT_WR);
  c.phase = Conn::Phase::kLinger;
  c.deadline = now + kLingerMs;
}

void HttpListener::close_conn(int fd) {
  auto it = conns_.find(fd);
  if (it == conns_.end() || it->second->dead) return;
  ::close(fd);
  it->second->dead = true;
  it->second->fd = -1;
}

}  // namespace hangar::api
