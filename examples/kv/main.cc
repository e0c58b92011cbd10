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
// what was run, and the exit status is 0. With --appendonly yes every write
// is logged to an append-only file and replayed at the next start
// (examples/kv/aof.h says how durable each --appendfsync is). The options
// it shares with weft-http, the runtime, the listener and the stop are
// examples/service/service.h's; this file keeps its usage, --maxclients and
// its last line.
// mimalloc is this program's allocator, except in sanitizer builds: they
// must see every allocation's life (memory a fiber frees and another
// reuses), which an uninstrumented mimalloc hides (as in alloc/heap.h).
#ifndef WEFT_SANITIZE_BUILD
#include <mimalloc-new-delete.h>
#endif

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cinttypes>
#include <climits>
#include <cstddef>
#include <cstdio>
#include <string>

#include <weft/weft.h>

#include "examples/kv/server.h"
#include "examples/service/service.h"

namespace {

constexpr const char* kUsage =
    "usage: weft-kv [--host H] [--port P] [--seconds S] [--mode multi|single]\n"
    "               [--backend uring|epoll] [--workers N] [--grace MS] [--maxclients N]\n"
    "               [--timeout S] [--appendonly yes|no] [--appendfsync always|everysec|no]\n"
    "               [--dir D] [--appendfilename F] [--auto-aof-rewrite-percentage P]\n"
    "               [--auto-aof-rewrite-min-size BYTES]\n"
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
    "  --timeout     close a client idle this many seconds; 0 = never (0)\n"
    "  --appendonly  log every write in an append-only file, replayed at start (no)\n"
    "  --appendfsync always: a reply waits for the fsync; everysec: for the write,\n"
    "                fsync once a second; no: for the write (everysec)\n"
    "  --dir         the directory of the file (.)\n"
    "  --appendfilename  the file's name (appendonly.aof)\n"
    "  --auto-aof-rewrite-percentage  rewrite the file once it grew by P% since\n"
    "                the last rewrite; 0 = only on BGREWRITEAOF (100)\n"
    "  --auto-aof-rewrite-min-size    ... and is at least this many bytes (67108864)\n"
    "a redis-protocol (RESP2) key-value server, database 0 only;\n"
    "prints 'listening on HOST:PORT (...)' once it accepts\n";

constexpr weft::service::Program kProgram{"weft-kv", kUsage, "kv-stop"};

// The last line: what was served, and what the graceful stop did.
void say_stopped(const weft::GracefulStop::Report& report,
                 const weft::kv::ServerCounters& counters) {
  std::fprintf(stderr,
               "weft-kv: stopped in %lld ms: %" PRIu64 " connections, %" PRIu64
               " commands, %" PRIu64 " protocol errors, %" PRIu64 " refused; %" PRIu64
               " connections closed in the grace period, %" PRIu64 " cut off\n",
               static_cast<long long>(report.took.count()), counters.connections.load(),
               counters.commands.load(), counters.protocol_errors.load(), counters.rejected.load(),
               report.finished, report.cut_off);
}

}  // namespace

int main(int argc, char** argv) {
  weft::kv::ServerOptions options;
  const weft::service::Options o = weft::service::parse(
      kProgram, argc, argv, {.port = 6380}, [&](const std::string& flag, const std::string& value) {
        if (flag == "--maxclients") {
          options.max_clients = static_cast<std::size_t>(weft::service::whole_number(
              kProgram, value, 1, LONG_MAX, "--maxclients wants a number from 1"));
          return true;
        }
        if (flag == "--appendonly" || flag == "--appendfsync") {
          const bool on = flag == "--appendonly";
          if (on && (value == "yes" || value == "no")) {
            options.aof.enabled = value == "yes";
          } else if (!on && value == "always") {
            options.aof.fsync = weft::kv::Fsync::always;
          } else if (!on && value == "everysec") {
            options.aof.fsync = weft::kv::Fsync::everysec;
          } else if (!on && value == "no") {
            options.aof.fsync = weft::kv::Fsync::no;
          } else {
            weft::service::bad_usage(kProgram, flag + (on ? " wants yes or no" : " wants always, everysec or no"));
          }
          return true;
        }
        if (flag == "--dir" || flag == "--appendfilename") {
          if (value.empty() || (flag == "--appendfilename" && value.find('/') != std::string::npos))
            weft::service::bad_usage(kProgram, flag + " wants a " + (flag == "--dir" ? "directory" : "file name"));
          (flag == "--dir" ? options.aof.dir : options.aof.filename) = value;
          return true;
        }
        if (flag == "--auto-aof-rewrite-percentage") {
          options.aof.rewrite_percentage = static_cast<unsigned>(weft::service::whole_number(
              kProgram, value, 0, 1'000'000, "--auto-aof-rewrite-percentage wants a number from 0"));
          return true;
        }
        if (flag == "--auto-aof-rewrite-min-size") {
          options.aof.rewrite_min_size = static_cast<std::uint64_t>(weft::service::whole_number(
              kProgram, value, 0, LONG_MAX, "--auto-aof-rewrite-min-size wants bytes from 0"));
          return true;
        }
        if (flag == "--timeout") {
          options.idle_timeout = std::chrono::seconds(weft::service::whole_number(
              kProgram, value, 0, 100'000'000, "--timeout wants whole seconds from 0"));
          return true;
        }
        return false;
      });
  // SHUTDOWN stops it as SIGTERM does (the same graceful stop).
  options.shutdown = [] { (void)::kill(::getpid(), SIGTERM); };
  weft::kv::ServerCounters counters;
  return weft::service::run(kProgram, o, weft::kv::serve, options, counters, say_stopped);
}
