// The HTTP/1.1 example service: a fiber per connection, straight-line code.
//
// Routes
//   GET|HEAD /ping          200 "pong\n": the cheapest possible answer
//   GET      /heavy?ms=N    computes for N ms (0..60000) without yielding,
//                           as a handler stuck in a loop would, then 200
//   POST     /echo          200 with the request's body
//   anything else           404, or 405 with Allow on a known path
//
// Connections. Keep-alive by default in HTTP/1.1 (HTTP/1.0: when asked),
// `Connection: close` honoured. Pipelined requests are answered in order,
// and the answers to every request already buffered go out in one write.
// A connection idle between requests for ServerOptions::idle_timeout, or
// slower than ServerOptions::request_timeout to send a whole request, is
// closed (408 if a request had begun). A bad request gets its status
// (request.h) with `Connection: close`, and the connection is closed; other
// connections never notice. `Expect: 100-continue` gets the interim answer
// before the body is read.
//
// Stopping. serve() with a GracefulStop (sync/graceful_stop.h): once the
// stop begins, accepting ends, a connection idle between requests closes,
// and one with a request under way answers it (with `Connection: close`)
// and closes; each connection is one piece of work until it has closed, so
// GracefulStop::stop() returns when every one has gone. After the grace
// period, reads and writes still under way end (the request is not
// answered: counted in ServerCounters as begun, not answered).
//
// Thread rules: serve() and serve_connection() run on fibers; with several
// workers, connections are spread over them like any fiber.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>

#include <weft/weft.h>

#include "examples/http/request.h"

namespace weft::http {

struct ServerOptions {
  Limits limits;
  std::chrono::milliseconds idle_timeout{30'000};
  std::chrono::milliseconds request_timeout{10'000};
  std::chrono::milliseconds max_heavy{60'000};  // the largest /heavy?ms=N
};

// What a server did, for its owner (relaxed counters, any thread).
struct ServerCounters {
  std::atomic<std::uint64_t> connections{0};
  std::atomic<std::uint64_t> requests{0};   // begun: read whole and routed
  std::atomic<std::uint64_t> answered{0};   // whose answer was written out in full
  std::atomic<std::uint64_t> bad_requests{0};
};

// Serves one accepted connection until it closes or fails (or `stop`, if
// given, says so; see "Stopping").
void serve_connection(net::TcpStream stream, const ServerOptions& options,
                      ServerCounters* counters = nullptr, GracefulStop* stop = nullptr);

// Accepts on `listener` until it is closed, or the stop begins, a detached
// fiber per connection. Returns the accept error that ended it
// (operation_canceled for a stop).
std::error_code serve(net::TcpListener& listener, const ServerOptions& options,
                      ServerCounters* counters = nullptr, GracefulStop* stop = nullptr);

}  // namespace weft::http
