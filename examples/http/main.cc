// weft-http: the HTTP/1.1 example service (routes in server.h).
//
//   weft-http --port 8080                      # one worker per CPU, io_uring
//   WEFT_MODE=single weft-http --port 8080     # Node's model: one thread
//   WEFT_BACKEND=epoll weft-http --port 8080   # the same on epoll
//   weft-http --port 0 --seconds 30            # any free port, stop after 30 s
//
// Prints `listening on 127.0.0.1:<port> (<mode>, <backend>, <N> workers)` on
// stdout once it accepts, then serves until SIGTERM or SIGINT, or for
// --seconds. The model and backend come from the environment (WEFT_MODE,
// WEFT_BACKEND, WEFT_WORKERS) or from --mode / --backend / --workers.
//
// It stops gracefully (sync/graceful_stop.h): accepting ends and the port
// closes, idle connections close, requests under way are answered within
// --grace milliseconds and cut off after; then one line on stderr says
// what was begun and answered, and the exit status is 0. The options it
// shares with weft-kv, the runtime, the listener and the stop are
// examples/service/service.h's; this file keeps its usage and its last line.
// mimalloc is this program's allocator, except in sanitizer builds: they
// must see every allocation's life (memory a fiber frees and another
// reuses), which an uninstrumented mimalloc hides (as in alloc/heap.h).
#ifndef WEFT_SANITIZE_BUILD
#include <mimalloc-new-delete.h>
#endif

#include <cinttypes>
#include <cstdio>

#include <weft/weft.h>

#include "examples/http/server.h"
#include "examples/service/service.h"

namespace {

constexpr const char* kUsage =
    "usage: weft-http [--host H] [--port P] [--seconds S] [--mode multi|single]\n"
    "                 [--backend uring|epoll] [--workers N] [--grace MS]\n"
    "  --host      numeric address to listen on (127.0.0.1)\n"
    "  --port      TCP port, 0 for any free one (8080)\n"
    "  --seconds   stop after S seconds; 0 = until killed (0)\n"
    "  --mode      multi: Go's model, one worker per CPU; single: Node's, one\n"
    "              thread (WEFT_MODE, else multi)\n"
    "  --backend   uring or epoll (WEFT_BACKEND, else io_uring with epoll fallback)\n"
    "  --workers   worker threads in multi mode (WEFT_WORKERS, else one per CPU)\n"
    "  --grace     on SIGTERM/SIGINT (or at --seconds), how long requests under\n"
    "              way may take before they are cut off, in ms (10000)\n"
    "routes: GET /ping, GET /heavy?ms=N (computes N ms without yielding), POST /echo;\n"
    "prints 'listening on HOST:PORT (...)' once it accepts\n";

constexpr weft::service::Program kProgram{"weft-http", kUsage, "http-stop"};

// The last line: what was served, and what the graceful stop did.
void say_stopped(const weft::GracefulStop::Report& report,
                 const weft::http::ServerCounters& counters) {
  std::fprintf(stderr,
               "weft-http: stopped in %lld ms: %" PRIu64 " requests begun, %" PRIu64
               " answered; %" PRIu64 " connections closed in the grace period, %" PRIu64
               " cut off\n",
               static_cast<long long>(report.took.count()), counters.requests.load(),
               counters.answered.load(), report.finished, report.cut_off);
}

}  // namespace

int main(int argc, char** argv) {
  const weft::service::Options o = weft::service::parse(kProgram, argc, argv, {.port = 8080});
  weft::http::ServerOptions options;
  weft::http::ServerCounters counters;
  return weft::service::run(kProgram, o, weft::http::serve, options, counters, say_stopped);
}
