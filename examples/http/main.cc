// weft-http: the HTTP/1.1 example service (routes in server.h).
//
//   weft-http --port 8080                      # one worker per CPU, io_uring
//   WEFT_MODE=single weft-http --port 8080     # Node's model: one thread
//   WEFT_BACKEND=epoll weft-http --port 8080   # the same on epoll
//   weft-http --port 0 --seconds 30            # any free port, stop after 30 s
//
// Prints `listening on 127.0.0.1:<port> (<mode>, <backend>, <N> workers)` on
// stdout once it accepts, then serves until killed, or for --seconds. The
// model and backend come from the environment (WEFT_MODE, WEFT_BACKEND,
// WEFT_WORKERS) or from --mode / --backend / --workers.
#include <mimalloc-new-delete.h>  // mimalloc is this program's allocator

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include <weft/weft.h>

#include "examples/http/server.h"
#include "perf/common/usage.h"

namespace {

struct Options {
  std::string host = "127.0.0.1";
  int port = 8080;
  double seconds = 0;  // 0: until killed
  std::string mode;     // empty: WEFT_MODE
  std::string backend;  // empty: WEFT_BACKEND
  long workers = 0;
};

constexpr const char* kUsage =
    "usage: weft-http [--host H] [--port P] [--seconds S] [--mode multi|single]\n"
    "                 [--backend uring|epoll] [--workers N]\n"
    "  --host      numeric address to listen on (127.0.0.1)\n"
    "  --port      TCP port, 0 for any free one (8080)\n"
    "  --seconds   stop after S seconds; 0 = until killed (0)\n"
    "  --mode      multi: Go's model, one worker per CPU; single: Node's, one\n"
    "              thread (WEFT_MODE, else multi)\n"
    "  --backend   uring or epoll (WEFT_BACKEND, else io_uring with epoll fallback)\n"
    "  --workers   worker threads in multi mode (WEFT_WORKERS, else one per CPU)\n"
    "routes: GET /ping, GET /heavy?ms=N (computes N ms without yielding), POST /echo;\n"
    "prints 'listening on HOST:PORT (...)' once it accepts\n";

[[noreturn]] void usage(const std::string& why) { weft::perf::bad_usage("weft-http", why, kUsage); }

Options parse(int argc, char** argv) {
  weft::perf::exit_if_help(argc, argv, kUsage);
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 >= argc) usage("missing value after " + a);
    const std::string v = argv[++i];
    char* end = nullptr;
    if (a == "--host") {
      o.host = v;
    } else if (a == "--port") {
      o.port = static_cast<int>(std::strtol(v.c_str(), &end, 10));
      if (*end != '\0' || o.port < 0 || o.port > 65535) usage("--port wants 0 to 65535");
    } else if (a == "--seconds") {
      o.seconds = std::strtod(v.c_str(), &end);
      if (*end != '\0' || o.seconds < 0) usage("--seconds wants a number");
    } else if (a == "--mode") {
      if (v != "multi" && v != "single") usage("--mode must be multi or single");
      o.mode = v;
    } else if (a == "--backend") {
      if (v != "uring" && v != "epoll") usage("--backend must be uring or epoll");
      o.backend = v;
    } else if (a == "--workers") {
      o.workers = std::strtol(v.c_str(), &end, 10);
      if (*end != '\0' || o.workers < 1) usage("--workers wants a number from 1");
    } else {
      usage("unknown option " + a);
    }
  }
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);
  weft::RuntimeOptions ro;
  if (!o.mode.empty()) ro.mode = o.mode == "single" ? weft::Mode::single : weft::Mode::multi;
  if (!o.backend.empty()) ro.backend = o.backend == "epoll" ? weft::BackendKind::epoll : weft::BackendKind::uring;
  ro.workers = static_cast<std::size_t>(o.workers);
  std::unique_ptr<weft::Runtime> runtime;
  try {
    runtime = std::make_unique<weft::Runtime>(ro);
  } catch (const std::exception& e) {  // e.g. --mode single --workers 2, or no io_uring with --backend uring
    std::fprintf(stderr, "weft-http: %s\n", e.what());
    return 2;
  }
  weft::Runtime& rt = *runtime;
  return rt.run([&] {
    auto listener = weft::net::TcpListener::bind({o.host.c_str(), static_cast<std::uint16_t>(o.port)});
    if (!listener) {
      std::fprintf(stderr, "weft-http: cannot listen on %s:%d: %s\n", o.host.c_str(), o.port,
                   listener.error().message().c_str());
      return 1;
    }
    const auto port = listener->local_address().value().port();
    std::printf("listening on %s:%u (%s, %s, %zu worker%s)\n", o.host.c_str(), port, rt.mode_name(),
                rt.backend_name(), rt.workers(), rt.workers() == 1 ? "" : "s");
    std::fflush(stdout);
    weft::http::ServerOptions options;
    weft::CancelToken stop;
    if (o.seconds > 0) {
      weft::spawn([&] {
        weft::sleep_for(std::chrono::duration_cast<weft::Clock::duration>(
            std::chrono::duration<double>(o.seconds)));
        stop.cancel();
      }, {.name = "http-timer"}).detach();
    }
    const std::error_code e = weft::http::serve(*listener, options, nullptr, &stop);
    if (e != std::errc::operation_canceled) {
      std::fprintf(stderr, "weft-http: accept failed: %s\n", e.message().c_str());
      return 1;
    }
    return 0;
  });
}
