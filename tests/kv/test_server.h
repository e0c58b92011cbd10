// The key-value service on a free port for one test body, and a client
// that reads whole RESP2 replies (server_test.cc).
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "examples/kv/server.h"

namespace weft::test {

// A server on a free port for the length of one test body (a fiber), with
// `options`; stopped (and its connections closed) when the test body ends.
class KvServer {
 public:
  explicit KvServer(weft::kv::ServerOptions options = {})
      : options_(options), listener_(weft::net::TcpListener::bind({"127.0.0.1", 0}).value()) {
    acceptor_ = weft::spawn([this] { return weft::kv::serve(listener_, options_, &counters_, &stop_); },
                            {.name = "kv-accept"});
  }
  ~KvServer() {
    (void)stop_.stop(std::chrono::milliseconds(0));
    (void)acceptor_.join();
    // Let detached connection fibers see their peers close and finish.
    for (int i = 0; i < 200 && weft::stats().fibers_live > 1; ++i) weft::sleep_for(std::chrono::milliseconds(5));
  }
  weft::net::Address address() const { return listener_.local_address().value(); }
  const weft::kv::ServerCounters& counters() const { return counters_; }

 private:
  weft::kv::ServerOptions options_;
  weft::kv::ServerCounters counters_;
  weft::GracefulStop stop_;
  weft::net::TcpListener listener_;
  weft::JoinHandle<std::error_code> acceptor_;
};

// The length of the first whole RESP2 reply in `b`, or 0 if it is not all there.
inline std::size_t reply_length(std::string_view b, std::size_t at = 0) {
  const std::size_t eol = b.find("\r\n", at);
  if (at >= b.size() || eol == std::string_view::npos) return 0;
  const std::string_view head = b.substr(at + 1, eol - at - 1);
  const bool counted = b[at] == '$' || b[at] == '*';
  const long n = counted && !head.empty() ? std::stol(std::string(head)) : 0;
  switch (b[at]) {
    case '$': {
      if (n < 0) return eol + 2 - at;
      const std::size_t end = eol + 2 + static_cast<std::size_t>(n) + 2;
      return end <= b.size() ? end - at : 0;
    }
    case '*': {
      std::size_t p = eol + 2;
      for (long i = 0; i < n; ++i) {
        const std::size_t len = reply_length(b, p);
        if (len == 0) return 0;
        p += len;
      }
      return p - at;
    }
    default:
      return eol + 2 - at;
  }
}

// A client of the service on the runtime under test.
class KvClient {
 public:
  explicit KvClient(const weft::net::Address& a) : stream_(weft::net::TcpStream::connect(a).value()) {}

  void send(std::string_view bytes) { stream_.write_all(bytes).value(); }
  // The next `count` replies (fewer if the server closes or 5 s pass).
  std::vector<std::string> replies(std::size_t count) {
    std::vector<std::string> out;
    char buf[16384];
    while (out.size() < count) {
      if (const std::size_t len = reply_length(pending_)) {
        out.push_back(pending_.substr(0, len));
        pending_.erase(0, len);
        continue;
      }
      auto n = stream_.read(buf, {.deadline = weft::after(std::chrono::seconds(5))});
      if (!n || *n == 0) break;
      pending_.append(buf, *n);
    }
    return out;
  }
  std::string reply() {
    auto r = replies(1);
    return r.empty() ? std::string() : r[0];
  }
  // One command (as an array of bulk strings) and its reply.
  std::string call(std::initializer_list<std::string_view> args) {
    send(encode(args));
    return reply();
  }
  static std::string encode(std::initializer_list<std::string_view> args) {
    std::string s = "*" + std::to_string(args.size()) + "\r\n";
    for (std::string_view a : args) s += "$" + std::to_string(a.size()) + "\r\n" + std::string(a) + "\r\n";
    return s;
  }
  // True when the server closed the connection (nothing more arrives).
  bool closed() {
    char buf[256];
    for (;;) {
      auto n = stream_.read(buf, {.deadline = weft::after(std::chrono::seconds(5))});
      if (!n) return n.error() == std::errc::connection_reset;
      if (*n == 0) return true;
      pending_.append(buf, *n);
    }
  }
  std::string& pending() { return pending_; }
  weft::net::TcpStream& stream() { return stream_; }

 private:
  weft::net::TcpStream stream_;
  std::string pending_;
};

}  // namespace weft::test
