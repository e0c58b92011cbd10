#include "examples/http/server.h"

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace weft::http {
namespace {

constexpr std::size_t kFirstBuffer = 16 << 10;

// Appends one whole response to `out`.
void respond(std::string& out, const Request* r, int status, std::string_view body,
             bool close, std::string_view extra_fields = {}) {
  char head[160];
  const std::string_view reason = reason_phrase(status);
  const int n = std::snprintf(head, sizeof head,
                              "HTTP/1.1 %d %.*s\r\nContent-Length: %zu\r\n"
                              "Content-Type: text/plain\r\n",
                              status, static_cast<int>(reason.size()), reason.data(), body.size());
  out.append(head, static_cast<std::size_t>(n));
  if (close)
    out += "Connection: close\r\n";
  else if (r != nullptr && r->minor_version == 0)
    out += "Connection: keep-alive\r\n";
  out += extra_fields;
  out += "\r\n";
  if (r == nullptr || r->method != "HEAD") out += body;
}

// Computes for `d` without yielding: the worker running it does nothing else.
void compute_for(Clock::duration d) {
  const auto end = Clock::now() + d;
  volatile std::uint64_t work = 0;
  while (Clock::now() < end) {
    for (int i = 0; i < 1000; ++i) work = work + 1;
  }
}

// One request, answered into `out`. Returns false when the connection must
// close after it.
bool route(const Request& r, std::string_view body, std::string& out, const ServerOptions& o,
           bool stopping) {
  const std::string_view path = r.path();
  const bool get = r.method == "GET" || r.method == "HEAD";
  const bool close = !r.keep_alive || stopping;
  if (path == "/ping") {
    if (!get) {
      respond(out, &r, 405, "use GET\n", close, "Allow: GET, HEAD\r\n");
    } else {
      respond(out, &r, 200, "pong\n", close);
    }
  } else if (path == "/heavy") {
    const std::string_view ms_text = query_value(r.query(), "ms");
    unsigned long ms = 0;
    const auto [end, ec] = std::from_chars(ms_text.data(), ms_text.data() + ms_text.size(), ms);
    if (!get) {
      respond(out, &r, 405, "use GET\n", close, "Allow: GET, HEAD\r\n");
    } else if (ms_text.empty() || ec != std::errc() || end != ms_text.data() + ms_text.size() ||
               ms > static_cast<unsigned long>(o.max_heavy.count())) {
      respond(out, &r, 400,
              "ms must be a whole number from 0 to " + std::to_string(o.max_heavy.count()) + "\n",
              close);
    } else {
      compute_for(std::chrono::milliseconds(ms));
      respond(out, &r, 200, "computed " + std::to_string(ms) + " ms\n", close);
    }
  } else if (path == "/echo") {
    if (r.method != "POST") {
      respond(out, &r, 405, "use POST\n", close, "Allow: POST\r\n");
    } else {
      respond(out, &r, 200, body, close);
    }
  } else {
    respond(out, &r, 404, "not found\n", close);
  }
  return !close;
}

// One connection's buffers: bytes received and not yet consumed live in
// in_[begin_, end_); answers wait in out_ until nothing more is buffered.
class Connection {
 public:
  Connection(net::TcpStream stream, const ServerOptions& options, ServerCounters* counters,
             GracefulStop* stop)
      : stream_(std::move(stream)),
        options_(options),
        counters_(counters),
        stop_(stop),
        in_(kFirstBuffer) {}
  ~Connection() { linger(); }

  void run() {
    Deadline request_deadline = kNoDeadline;  // set while a request is incomplete
    for (;;) {
      const ParseResult p = parse_request(pending(), options_.limits);
      if (p.kind == ParseResult::Kind::bad) {
        if (counters_ != nullptr) counters_->bad_requests.fetch_add(1, std::memory_order_relaxed);
        respond(out_, nullptr, p.status, std::string(p.reason) + "\n", true);
        (void)flush();
        return;
      }
      if (p.kind == ParseResult::Kind::need_more) {
        // Answers to everything buffered go out together, before waiting.
        if (!flush()) return;
        const bool started = end_ > begin_;
        if (!started && stopping()) return;  // idle, and the service stops
        if (!started) request_deadline = kNoDeadline;
        if (started && request_deadline == kNoDeadline) request_deadline = after(options_.request_timeout);
        const Deadline d = started ? request_deadline : after(options_.idle_timeout);
        if (!receive(0, d, started)) return;
        continue;
      }
      const Request& head = p.request;
      const std::size_t need = head.header_bytes + head.content_length;
      if (end_ - begin_ < need) {
        // The body is still on its way. Earlier answers go out first; an
        // HTTP/1.1 client that expects it is told to send (once).
        if (head.expect_continue && head.minor_version >= 1 && !continued_) {
          out_ += "HTTP/1.1 100 Continue\r\n\r\n";
          continued_ = true;
        }
        if (!flush()) return;
        if (request_deadline == kNoDeadline) request_deadline = after(options_.request_timeout);
        if (!receive(need, request_deadline, true)) return;
        continue;  // parse again: the buffer may have moved
      }
      request_deadline = kNoDeadline;
      continued_ = false;
      if (counters_ != nullptr) counters_->requests.fetch_add(1, std::memory_order_relaxed);
      const std::string_view body(in_.data() + begin_ + head.header_bytes, head.content_length);
      const bool keep = route(head, body, out_, options_, stopping());
      ++unanswered_;
      begin_ += need;
      if (begin_ == end_) begin_ = end_ = 0;
      if (!keep) {
        (void)flush();
        return;
      }
    }
  }

 private:
  std::string_view pending() const { return {in_.data() + begin_, end_ - begin_}; }
  bool stopping() const { return stop_ != nullptr && stop_->stop_begun(); }
  // What a wait gives up on: an idle one at the stop, one under way only
  // when the grace period is over.
  CancelToken* cancel_for(bool started) const {
    if (stop_ == nullptr) return nullptr;
    return started ? stop_->cutting() : stop_->stopping();
  }

  bool flush() {
    if (out_.empty()) return true;
    const bool ok = static_cast<bool>(
        stream_.write_all(out_, {.deadline = after(options_.request_timeout), .cancel = cancel_for(true)}));
    out_.clear();
    if (ok && counters_ != nullptr) counters_->answered.fetch_add(unanswered_, std::memory_order_relaxed);
    unanswered_ = 0;
    return ok;
  }

  // Reads at least once, with room for `need` unconsumed bytes (0: any
  // room). False when the peer closed, the read failed, or the deadline
  // passed (then 408 if a request had begun).
  bool receive(std::size_t need, Deadline deadline, bool started) {
    if (begin_ > 0 && (end_ == in_.size() || begin_ + need > in_.size())) {
      std::memmove(in_.data(), in_.data() + begin_, end_ - begin_);
      end_ -= begin_;
      begin_ = 0;
    }
    // Room for the next read, growing with what arrives (a body is not
    // allocated before its bytes come).
    const std::size_t room = need > end_ ? std::min(need - end_, kFirstBuffer) : kFirstBuffer / 4;
    const std::size_t target = end_ + room;
    if (target > in_.size()) {
      const std::size_t doubled = std::max(target, in_.size() * 2);
      in_.resize(need > 0 ? std::min(doubled, std::max(need, target)) : doubled);
    }
    auto n = stream_.read(MutableBuffer(in_.data() + end_, in_.size() - end_),
                          {.deadline = deadline, .cancel = cancel_for(started)});
    if (!n) {
      if (n.error() == std::errc::timed_out && started) {
        respond(out_, nullptr, 408, "request not received in time\n", true);
        (void)flush();
      }
      return false;
    }
    if (*n == 0) return false;  // the peer closed
    end_ += *n;
    return true;
  }

  // Closing with unread input makes the kernel send a reset, which can
  // destroy the answer still on its way (RFC 9112, 9.6): end our side, then
  // read and drop what the client still sends, briefly.
  void linger() {
    if (!stream_.is_open()) return;
    (void)stream_.shutdown();
    char sink[4096];
    const Deadline until = after(std::chrono::milliseconds(200));
    for (std::size_t dropped = 0; dropped < (256u << 10);) {
      auto n = stream_.read(MutableBuffer(sink, sizeof sink), {.deadline = until});
      if (!n || *n == 0) break;
      dropped += *n;
    }
  }

  net::TcpStream stream_;
  const ServerOptions options_;  // a copy: the connection may outlive serve()'s caller
  ServerCounters* counters_;
  GracefulStop* stop_;
  std::vector<char> in_;
  std::size_t begin_ = 0;
  std::size_t end_ = 0;
  std::string out_;
  bool continued_ = false;  // 100 Continue sent for the request being read
  std::uint64_t unanswered_ = 0;  // routed requests whose answers wait in out_
};

}  // namespace

void serve_connection(net::TcpStream stream, const ServerOptions& options, ServerCounters* counters,
                      GracefulStop* stop) {
  if (counters != nullptr) counters->connections.fetch_add(1, std::memory_order_relaxed);
  Connection(std::move(stream), options, counters, stop).run();
}

std::error_code serve(net::TcpListener& listener, const ServerOptions& options,
                      ServerCounters* counters, GracefulStop* stop) {
  for (;;) {
    auto conn = listener.accept({.cancel = stop != nullptr ? stop->stopping() : nullptr});
    if (!conn) {
      if (!net::TcpListener::transient(conn.error())) return conn.error();
      // Out of descriptors or memory: the connections being served still
      // are; try again shortly instead of spinning.
      sleep_for(std::chrono::milliseconds(10));
      continue;
    }
    // Named after the client's port: one connection is one track of
    // fiber slices in a trace, one line in gdb's `info weft-fibers`.
    char name[32] = "http-conn";
    if (auto peer = conn->peer_address()) std::snprintf(name, sizeof name, "http-conn :%u", peer->port());
    // Counted from here: a stop that begins now waits for this one too.
    GracefulStop::Work work = stop != nullptr ? stop->begin_work() : GracefulStop::Work();
    spawn([s = std::move(*conn), &options, counters, stop, w = std::move(work)]() mutable {
      serve_connection(std::move(s), options, counters, stop);
      w.end();  // after the linger: the connection is gone
    }, {.name = name}).detach();
  }
}

}  // namespace weft::http
