// The HTTP example service on a free port for one test body, shared by the
// HTTP suites (server_test.cc, curl_multi_test.cc).
#pragma once

#include <chrono>
#include <string>

#include "examples/http/server.h"

namespace weft::test {

// A server on a free port for the length of one test body (a fiber), with
// `options`; stopped (and its connections closed) when the test body ends.
class TestServer {
 public:
  explicit TestServer(weft::http::ServerOptions options = {})
      : options_(options), listener_(weft::net::TcpListener::bind({"127.0.0.1", 0}).value()) {
    acceptor_ = weft::spawn([this] { return weft::http::serve(listener_, options_, &counters_, &stop_); },
                            {.name = "http-accept"});
  }
  ~TestServer() {
    // No grace: what a test left half-sent is cut off at once.
    (void)stop_.stop(std::chrono::milliseconds(0));
    (void)acceptor_.join();
    // Let detached connection fibers see their peers close and finish.
    for (int i = 0; i < 200 && weft::stats().fibers_live > 1; ++i) weft::sleep_for(std::chrono::milliseconds(5));
  }
  weft::net::Address address() const { return listener_.local_address().value(); }
  std::string url(const char* path) const { return "http://127.0.0.1:" + std::to_string(address().port()) + path; }
  const weft::http::ServerCounters& counters() const { return counters_; }

 private:
  weft::http::ServerOptions options_;
  weft::http::ServerCounters counters_;
  weft::GracefulStop stop_;
  weft::net::TcpListener listener_;
  weft::JoinHandle<std::error_code> acceptor_;
};

}  // namespace weft::test
