#include "examples/http/server.h"

#include "examples/service/service.h"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <string_view>

namespace weft::http {
namespace {

using Reader = BufferedReader<net::TcpStream>;
using Writer = BufferedWriter<net::TcpStream>;

// One whole response, its pieces gathered: copied into the writer's buffer
// while they fit, else sent with it in one sendmsg (a large body is not
// copied).
Result<void> respond(Writer& out, const WaitOptions& w, const Request* r, int status,
                     std::string_view body, bool close, std::string_view extra_fields = {}) {
  char head[160];
  const std::string_view reason = reason_phrase(status);
  const int n = std::snprintf(head, sizeof head,
                              "HTTP/1.1 %d %.*s\r\nContent-Length: %zu\r\n"
                              "Content-Type: text/plain\r\n%s",
                              status, static_cast<int>(reason.size()), reason.data(), body.size(),
                              close                                        ? "Connection: close\r\n"
                              : r != nullptr && r->minor_version == 0 ? "Connection: keep-alive\r\n"
                                                                      : "");
  const bool head_only = r != nullptr && r->method == "HEAD";
  const ConstBuffer pieces[] = {ConstBuffer(head, static_cast<std::size_t>(n)), extra_fields,
                                std::string_view("\r\n"), head_only ? std::string_view() : body};
  return out.write(std::span<const ConstBuffer>(pieces), w);
}

// Computes for `d` without yielding: the worker running it does nothing else.
void compute_for(Clock::duration d) {
  const auto end = Clock::now() + d;
  volatile std::uint64_t work = 0;
  while (Clock::now() < end) {
    for (int i = 0; i < 1000; ++i) work = work + 1;
  }
}

// One request, answered into `out`. `close`: the connection closes after it.
Result<void> route(const Request& r, std::string_view body, Writer& out, const WaitOptions& w,
                   const ServerOptions& o, bool close) {
  const std::string_view path = r.path();
  const bool get = r.method == "GET" || r.method == "HEAD";
  if (path == "/ping") {
    if (!get) return respond(out, w, &r, 405, "use GET\n", close, "Allow: GET, HEAD\r\n");
    return respond(out, w, &r, 200, "pong\n", close);
  }
  if (path == "/heavy") {
    const std::string_view ms_text = query_value(r.query(), "ms");
    unsigned long ms = 0;
    const auto [end, ec] = std::from_chars(ms_text.data(), ms_text.data() + ms_text.size(), ms);
    if (!get) return respond(out, w, &r, 405, "use GET\n", close, "Allow: GET, HEAD\r\n");
    if (ms_text.empty() || ec != std::errc() || end != ms_text.data() + ms_text.size() ||
        ms > static_cast<unsigned long>(o.max_heavy.count())) {
      return respond(out, w, &r, 400,
                     "ms must be a whole number from 0 to " + std::to_string(o.max_heavy.count()) + "\n",
                     close);
    }
    compute_for(std::chrono::milliseconds(ms));
    return respond(out, w, &r, 200, "computed " + std::to_string(ms) + " ms\n", close);
  }
  if (path == "/echo") {
    if (r.method != "POST") return respond(out, w, &r, 405, "use POST\n", close, "Allow: POST\r\n");
    return respond(out, w, &r, 200, body, close);
  }
  return respond(out, w, &r, 404, "not found\n", close);
}

// One connection: requests are parsed from what the reader has buffered
// (the parser looks at every byte received so far; a body larger than the
// buffer is read into body_), answers wait in the writer until nothing more
// is buffered.
class Connection {
 public:
  Connection(net::TcpStream stream, const ServerOptions& options, ServerCounters* counters,
             GracefulStop* stop)
      : stream_(std::move(stream)),
        options_(options),
        counters_(counters),
        stop_(stop),
        // Room for the largest header section the parser accepts, and the
        // byte that tells it the section is too long.
        in_(stream_, std::max(Reader::kDefaultCapacity, options.limits.max_header_bytes + 1)),
        out_(stream_) {}
  ~Connection() { linger(); }

  void run() {
    Deadline request_deadline = kNoDeadline;  // set while a request is incomplete
    for (;;) {
      const ParseResult p = parse_request(in_.view(), options_.limits);
      if (p.kind == ParseResult::Kind::bad) {
        if (counters_ != nullptr) counters_->bad_requests.fetch_add(1, std::memory_order_relaxed);
        (void)respond(out_, writing(), nullptr, p.status, std::string(p.reason) + "\n", true);
        (void)flush();
        return;
      }
      const bool started = in_.buffered() > 0;
      if (!started) request_deadline = kNoDeadline;
      if (started && request_deadline == kNoDeadline) request_deadline = after(options_.request_timeout);
      if (p.kind == ParseResult::Kind::need_more) {
        // Answers to everything buffered go out together, before waiting.
        if (!flush()) return;
        if (!started && stopping()) return;  // idle, and the service stops
        if (!receive(started ? request_deadline : after(options_.idle_timeout), started)) return;
        continue;
      }
      std::string_view body;
      Request head = p.request;
      if (!take_body(head, request_deadline, &body)) return;
      request_deadline = kNoDeadline;
      if (counters_ != nullptr) counters_->requests.fetch_add(1, std::memory_order_relaxed);
      const bool close = !head.keep_alive || stopping();
      const bool ok = route(head, body, out_, writing(), options_, close).has_value();
      ++unanswered_;
      in_.consume(body_taken_ ? 0 : head.header_bytes + head.content_length);
      body_taken_ = false;
      if (!ok) return;
      if (close) {
        (void)flush();
        return;
      }
    }
  }

 private:
  bool stopping() const { return stop_ != nullptr && stop_->stop_begun(); }
  // What a wait gives up on: an idle one at the stop, one under way only
  // when the grace period is over.
  CancelToken* cancel_for(bool started) const {
    if (stop_ == nullptr) return nullptr;
    return started ? stop_->cutting() : stop_->stopping();
  }
  WaitOptions writing() const {
    return {.deadline = after(options_.request_timeout), .cancel = cancel_for(true)};
  }

  // The body of `head` (whose header section is buffered), in `*body`. One
  // that fits the reader is left there (the caller consumes it with the
  // header section); a larger one is read into body_ (body_taken_), and
  // `head` views a copy of its header section, which the reads move.
  bool take_body(Request& head, Deadline deadline, std::string_view* body) {
    const std::size_t need = head.header_bytes + head.content_length;
    const bool complete = in_.buffered() >= need;
    const char* const was_at = in_.view().data();
    if (!complete) {
      // The body is still on its way. Earlier answers go out first; an
      // HTTP/1.1 client that expects it is told to send.
      if (head.expect_continue && head.minor_version >= 1) {
        if (!out_.write(std::string_view("HTTP/1.1 100 Continue\r\n\r\n"), writing())) return false;
      }
      if (!flush()) return false;
    }
    const WaitOptions reading{.deadline = deadline, .cancel = cancel_for(true)};
    if (need <= in_.capacity()) {
      auto got = in_.peek(need, reading);
      if (!got || got->size() < need) return failed_read(got ? std::error_code() : std::error_code(got.error()), true);
      // Reads may have moved the buffered bytes to the buffer's front.
      moved(head, was_at, got->data());
      *body = got->substr(head.header_bytes);
      return true;
    }
    head_copy_.assign(in_.view().substr(0, head.header_bytes));
    moved(head, was_at, head_copy_.data());
    in_.consume(head.header_bytes);
    if (head.content_length > body_capacity_) {
      body_.reset(new char[head.content_length]);  // not zeroed: read over at once
      body_capacity_ = head.content_length;
    }
    const MutableBuffer into(body_.get(), head.content_length);
    if (auto r = in_.read_exact(into, reading); !r) {
      return failed_read(r.error() == errc::end_of_stream ? std::error_code() : std::error_code(r.error()), true);
    }
    body_taken_ = true;
    *body = std::string_view(body_.get(), head.content_length);
    return true;
  }

  // `head`'s views, of bytes that were at `from`, to the same bytes at `to`.
  static void moved(Request& head, const char* from, const char* to) {
    if (from == to) return;
    auto again = [from, to](std::string_view v) { return std::string_view(to + (v.data() - from), v.size()); };
    head.method = again(head.method);
    head.target = again(head.target);
  }

  bool flush() {
    const bool ok = out_.flush(writing()).has_value();
    if (ok && counters_ != nullptr) counters_->answered.fetch_add(unanswered_, std::memory_order_relaxed);
    unanswered_ = 0;
    return ok;
  }

  // Reads more (at least one byte). False when the peer closed, the read
  // failed, or the deadline passed.
  bool receive(Deadline deadline, bool started) {
    const std::size_t had = in_.buffered();
    auto got = in_.peek(had + 1, {.deadline = deadline, .cancel = cancel_for(started)});
    if (!got) return failed_read(got.error(), started);
    return got->size() > had;  // equal: the peer closed
  }

  // A read that ended the connection (an empty `e`: the peer closed): 408
  // if a request had begun and the time for it ran out.
  bool failed_read(std::error_code e, bool started) {
    if (e == std::errc::timed_out && started) {
      (void)respond(out_, writing(), nullptr, 408, "request not received in time\n", true);
      (void)flush();
    }
    return false;
  }

  void linger() { service::linger(stream_); }  // the last answer is not reset away

  net::TcpStream stream_;
  const ServerOptions options_;  // a copy: the connection may outlive serve()'s caller
  ServerCounters* counters_;
  GracefulStop* stop_;
  Reader in_;
  Writer out_;
  std::unique_ptr<char[]> body_;  // a body larger than the reader's buffer
  std::size_t body_capacity_ = 0;
  bool body_taken_ = false;        // the request's body is in body_
  std::string head_copy_;          // its header section
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
