// weft-kv: the key-value example service, a redis-protocol (RESP2) server
// (commands in store.h, connections in server.h).
//
//   weft-kv                                   # 127.0.0.1:6380, one worker per CPU
//   weft-kv --port 0 --seconds 30             # any free port, stop after 30 s
//   weft-kv --mode single --backend epoll     # one thread, on epoll
//   redis-cli -p 6380 set greeting hello
//
// Prints `listening on 127.0.0.1:<port> (<mode>, <backend>, <N> workers)` on
// stdout once it accepts, then serves until SIGTERM or SIGINT, or for
// --seconds. The model and backend come from the environment (WEFT_MODE,
// WEFT_BACKEND, WEFT_WORKERS) or from --mode / --backend / --workers.
//
// It stops gracefully (sync/graceful_stop.h): accepting ends and the port
// closes, idle connections close, commands under way are answered within
// --grace milliseconds and cut off after; then one line on stderr says
// what was run, and the exit status is 0. Nothing is persisted.
// mimalloc is this program's allocator, except in sanitizer builds: they
// must see every allocation's life (memory a fiber frees and another
// reuses), which an uninstrumented mimalloc hides (as in alloc/heap.h).
#ifndef WEFT_SANITIZE_BUILD
#include <mimalloc-new-delete.h>
#endif

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include <weft/weft.h>

#include "examples/kv/server.h"
#include "perf/common/usage.h"

namespace {

struct Options {
  std::string host = "127.0.0.1";
  int port = 6380;
  double seconds = 0;  // 0: until killed
  std::string mode;     // empty: WEFT_MODE
  std::string backend;  // empty: WEFT_BACKEND
  long workers = 0;
  long grace_ms = 10'000;
  long max_clients = 10'000;
};

constexpr const char* kUsage =
    "usage: weft-kv [--host H] [--port P] [--seconds S] [--mode multi|single]\n"
    "               [--backend uring|epoll] [--workers N] [--grace MS] [--maxclients N]\n"
    "  --host        numeric address to listen on (127.0.0.1)\n"
    "  --port        TCP port, 0 for any free one (6380)\n"
    "  --seconds     stop after S seconds; 0 = until killed (0)\n"
    "  --mode        multi: Go's model, one worker per CPU; single: Node's, one\n"
    "                thread (WEFT_MODE, else multi)\n"
    "  --backend     uring or epoll (WEFT_BACKEND, else io_uring with epoll fallback)\n"
    "  --workers     worker threads in multi mode (WEFT_WORKERS, else one per CPU)\n"
    "  --grace       on SIGTERM/SIGINT (or at --seconds), how long commands under\n"
    "                way may take before they are cut off, in ms (10000)\n"
    "  --maxclients  connections served at once; more are refused (10000)\n"
    "a redis-protocol (RESP2) key-value server, database 0 only, nothing persisted;\n"
    "prints 'listening on HOST:PORT (...)' once it accepts\n";

[[noreturn]] void usage(const std::string& why) { weft::perf::bad_usage("weft-kv", why, kUsage); }

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
    } else if (a == "--grace") {
      o.grace_ms = std::strtol(v.c_str(), &end, 10);
      if (*end != '\0' || o.grace_ms < 0) usage("--grace wants milliseconds from 0");
    } else if (a == "--maxclients") {
      o.max_clients = std::strtol(v.c_str(), &end, 10);
      if (*end != '\0' || o.max_clients < 1) usage("--maxclients wants a number from 1");
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
    std::fprintf(stderr, "weft-kv: %s\n", e.what());
    return 2;
  }
  weft::Runtime& rt = *runtime;
  return rt.run([&] {
    auto listener = weft::net::TcpListener::bind({o.host.c_str(), static_cast<std::uint16_t>(o.port)});
    if (!listener) {
      std::fprintf(stderr, "weft-kv: cannot listen on %s:%d: %s\n", o.host.c_str(), o.port,
                   listener.error().message().c_str());
      return 1;
    }
    // Watched before the first line goes out: whoever reads it may send one.
    auto signals = weft::os::Signals::watch({SIGTERM, SIGINT});
    if (!signals) {
      std::fprintf(stderr, "weft-kv: cannot watch SIGTERM: %s\n", signals.error().message().c_str());
      return 1;
    }
    const auto port = listener->local_address().value().port();
    std::printf("listening on %s:%u (%s, %s, %zu worker%s)\n", o.host.c_str(), port, rt.mode_name(),
                rt.backend_name(), rt.workers(), rt.workers() == 1 ? "" : "s");
    std::fflush(stdout);
    weft::kv::ServerOptions options;
    options.max_clients = static_cast<std::size_t>(o.max_clients);
    weft::kv::ServerCounters counters;
    weft::GracefulStop stop;
    weft::CancelToken serving_failed;
    // Waits for a signal (or --seconds, or a failed accept loop), then stops.
    auto stopper = weft::spawn([&] {
      weft::WaitOptions until{.cancel = &serving_failed};
      if (o.seconds > 0) {
        until.deadline = weft::after(std::chrono::duration_cast<weft::Clock::duration>(
            std::chrono::duration<double>(o.seconds)));
      }
      if (auto sig = signals->wait(until)) {
        char name[24];
        std::fprintf(stderr, "weft-kv: %s: stopping (grace %ld ms)\n", weft::os::Signals::name(*sig, name),
                     o.grace_ms);
      }
      return stop.stop(std::chrono::milliseconds(o.grace_ms));
    }, {.name = "kv-stop"});
    const std::error_code e = weft::kv::serve(*listener, options, &counters, &stop);
    (void)listener->close();  // new connections are refused from now on
    if (e != std::errc::operation_canceled) {
      std::fprintf(stderr, "weft-kv: accept failed: %s\n", e.message().c_str());
      serving_failed.cancel();
    }
    const weft::GracefulStop::Report report = stopper.join();
    std::fprintf(stderr,
                 "weft-kv: stopped in %lld ms: %llu connections, %llu commands, %llu protocol errors, "
                 "%llu refused; %llu connections closed in the grace period, %llu cut off\n",
                 static_cast<long long>(report.took.count()),
                 static_cast<unsigned long long>(counters.connections.load()),
                 static_cast<unsigned long long>(counters.commands.load()),
                 static_cast<unsigned long long>(counters.protocol_errors.load()),
                 static_cast<unsigned long long>(counters.rejected.load()),
                 static_cast<unsigned long long>(report.finished),
                 static_cast<unsigned long long>(report.cut_off));
    return e == std::errc::operation_canceled ? 0 : 1;
  });
}
