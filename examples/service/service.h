// The scaffolding that the example services' programs share (weft-http in
// examples/http/main.cc, weft-kv in examples/kv/main.cc): the options they
// all take, the Runtime built from them, the listener, and the graceful stop
// on SIGTERM/SIGINT or at --seconds. Each program keeps its usage text, its
// own options, its serve() call and the line it prints when stopped.
//
//   const weft::service::Program program{"weft-http", kUsage, "http-stop"};
//   const weft::service::Options o = weft::service::parse(program, argc, argv, {.port = 8080});
//   return weft::service::run(program, o, weft::http::serve, server_options, counters,
//                             say_stopped);
//
// What run() does, in order:
//   1. builds the Runtime from --mode, --backend and --workers (each left
//      unset leaves it to the environment); if it cannot be built (e.g.
//      --mode single --workers 2), says why and returns 2;
//   2. on the main fiber, binds --host:--port and watches SIGTERM and SIGINT
//      (before the first line goes out: whoever reads it may send one);
//      if either fails, says why and returns 1;
//   3. prints `listening on HOST:PORT (MODE, BACKEND, N workers)` on stdout;
//   4. spawns the stopper, a fiber that waits for a signal, for --seconds or
//      for the accept loop to fail, then calls GracefulStop::stop(--grace);
//   5. calls the program's serve(listener, stop) on the main fiber; once it
//      returns, closes the listener and, if serve() failed (returned anything
//      but operation_canceled), says so and wakes the stopper;
//   6. joins the stopper and hands its Report to the program's report();
//      returns 0 if serve() ended by the stop, else 1.
// Every message (on stderr) begins with "<program name>: ".
//
// Thread rules: parse(), bad_usage() and whole_number() on main(), before
// run(); run() once, from main(). serve and report run on the main fiber.
#pragma once

#include <functional>
#include <string>
#include <system_error>

#include <weft/weft.h>

namespace weft::service {

// What a program is called, for its messages and its stopper fiber.
struct Program {
  const char* name;        // "weft-http": begins every message
  const char* usage;       // the whole usage text (perf/common/usage.h)
  const char* stop_fiber;  // the stopper fiber's name, e.g. "http-stop"
};

// The options every service takes. A program sets its own defaults (its
// port) by passing them to parse().
struct Options {
  std::string host = "127.0.0.1";  // --host
  int port = 0;                    // --port
  double seconds = 0;              // --seconds; 0: until a signal
  std::string mode;                // --mode; empty: WEFT_MODE
  std::string backend;             // --backend; empty: WEFT_BACKEND
  long workers = 0;                // --workers; 0: WEFT_WORKERS, else one per CPU
  long grace_ms = 10'000;          // --grace
};

// A program's own options: called with each flag parse() does not know and
// its value. Returns true if the flag is the program's (a bad value goes to
// bad_usage()), false if not (parse() then rejects it as unknown).
using ExtraOptions = std::function<bool(const std::string& flag, const std::string& value)>;

// Prints "<name>: <why>" and the usage on stderr, and exits 2.
[[noreturn]] void bad_usage(const Program& program, const std::string& why);

// `value` as a whole number from `min` to `max`; else bad_usage(why).
long whole_number(const Program& program, const std::string& value, long min, long max,
                  const std::string& why);

// Reads the command line over `defaults`: exits 0 with the usage on --help
// or -h, exits 2 through bad_usage() on a flag without a value, a bad value
// or an unknown flag. Every flag takes a value.
Options parse(const Program& program, int argc, char** argv, Options defaults,
              const ExtraOptions& extra = {});

// The program's accept loop: serves `listener` until `stop` stops it
// (returning operation_canceled) or accepting fails (any other error).
using Serve = std::function<std::error_code(net::TcpListener& listener, GracefulStop& stop)>;

// The program's last word, given what the graceful stop did.
using Report = std::function<void(const GracefulStop::Report& report)>;

// Ends a connection without losing the last answer: closing with unread
// input makes the kernel send a reset, which can destroy what is still on
// its way (RFC 9112, 9.6). Ends our side, then reads and drops what the
// client still sends, for 200 ms or 256 KiB at most. On a fiber.
void linger(net::TcpStream& stream);

// Runs the service as the steps at the top of this file say, and returns
// the exit status (0, 1 or 2).
int run(const Program& program, const Options& options, const Serve& serve, const Report& report);

// The same for a service written as the examples' are, with
// `serve(listener, server_options, &counters, &stop)` as its accept loop
// (examples/http/server.h, examples/kv/server.h); `say_stopped(report,
// counters)` prints its last line.
template <class ServerOptions, class Counters>
int run(const Program& program, const Options& options,
        std::error_code (*serve)(net::TcpListener&, const ServerOptions&, Counters*, GracefulStop*),
        const ServerOptions& server_options, Counters& counters,
        void (*say_stopped)(const GracefulStop::Report&, const Counters&)) {
  return run(
      program, options,
      [&](net::TcpListener& listener, GracefulStop& stop) {
        return serve(listener, server_options, &counters, &stop);
      },
      [&](const GracefulStop::Report& report) { say_stopped(report, counters); });
}

}  // namespace weft::service
