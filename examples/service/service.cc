// The scaffolding of the example services' programs (service.h): option
// parsing, and run() with its stopper fiber.
//
// Thread rules: as service.h says; nothing here is shared between threads
// but the GracefulStop and the CancelToken, which are made for it.
#include "examples/service/service.h"

#include <chrono>
#include <csignal>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <limits>
#include <memory>
#include <stdexcept>

#include "perf/common/usage.h"

namespace weft::service {

void bad_usage(const Program& program, const std::string& why) {
  weft::perf::bad_usage(program.name, why, program.usage);
}

long whole_number(const Program& program, const std::string& value, long min, long max,
                  const std::string& why) {
  char* end = nullptr;
  const long n = std::strtol(value.c_str(), &end, 10);
  if (*end != '\0' || n < min || n > max) bad_usage(program, why);
  return n;
}

Options parse(const Program& program, int argc, char** argv, Options o, const ExtraOptions& extra) {
  weft::perf::exit_if_help(argc, argv, program.usage);
  constexpr long kMost = std::numeric_limits<long>::max();
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 >= argc) bad_usage(program, "missing value after " + a);
    const std::string v = argv[++i];
    if (a == "--host") {
      try {
        (void)net::Address(v, 0);  // numeric only: a name would need resolving first
      } catch (const std::invalid_argument&) {
        bad_usage(program, "--host wants a numeric IPv4 or IPv6 address, not " + v);
      }
      o.host = v;
    } else if (a == "--port") {
      o.port = static_cast<int>(whole_number(program, v, 0, 65535, "--port wants 0 to 65535"));
    } else if (a == "--seconds") {
      char* end = nullptr;
      o.seconds = std::strtod(v.c_str(), &end);
      if (*end != '\0' || o.seconds < 0) bad_usage(program, "--seconds wants a number");
    } else if (a == "--mode") {
      if (v != "multi" && v != "single") bad_usage(program, "--mode must be multi or single");
      o.mode = v;
    } else if (a == "--backend") {
      if (v != "uring" && v != "epoll") bad_usage(program, "--backend must be uring or epoll");
      o.backend = v;
    } else if (a == "--workers") {
      o.workers = whole_number(program, v, 1, kMost, "--workers wants a number from 1");
    } else if (a == "--grace") {
      o.grace_ms = whole_number(program, v, 0, kMost, "--grace wants milliseconds from 0");
    } else if (!extra || !extra(a, v)) {
      bad_usage(program, "unknown option " + a);
    }
  }
  return o;
}

namespace {

RuntimeOptions runtime_options(const Options& o) {
  RuntimeOptions ro;
  if (!o.mode.empty()) ro.mode = o.mode == "single" ? Mode::single : Mode::multi;
  if (!o.backend.empty())
    ro.backend = o.backend == "epoll" ? BackendKind::epoll : BackendKind::uring;
  ro.workers = static_cast<std::size_t>(o.workers);
  return ro;
}

// Steps 2 to 6 of service.h, on the main fiber.
int serve_until_stopped(const Program& program, const Options& o, Runtime& rt, const Serve& serve,
                        const Report& report) {
  auto listener = net::TcpListener::bind({o.host.c_str(), static_cast<std::uint16_t>(o.port)});
  if (!listener) {
    std::fprintf(stderr, "%s: cannot listen on %s:%d: %s\n", program.name, o.host.c_str(), o.port,
                 listener.error().message().c_str());
    return 1;
  }
  // Watched before the first line goes out: whoever reads it may send one.
  auto signals = os::Signals::watch({SIGTERM, SIGINT});
  if (!signals) {
    std::fprintf(stderr, "%s: cannot watch SIGTERM: %s\n", program.name,
                 signals.error().message().c_str());
    return 1;
  }
  const auto port = listener->local_address().value().port();
  std::printf("listening on %s:%u (%s, %s, %zu worker%s)\n", o.host.c_str(), port, rt.mode_name(),
              rt.backend_name(), rt.workers(), rt.workers() == 1 ? "" : "s");
  std::fflush(stdout);
  GracefulStop stop;
  CancelToken serving_failed;
  // Waits for a signal (or --seconds, or a failed accept loop), then stops.
  auto stopper = spawn(
      [&] {
        WaitOptions until{.cancel = &serving_failed};
        if (o.seconds > 0) {
          until.deadline = after(std::chrono::duration_cast<Clock::duration>(
              std::chrono::duration<double>(o.seconds)));
        }
        if (auto sig = signals->wait(until)) {
          char name[24];
          std::fprintf(stderr, "%s: %s: stopping (grace %ld ms)\n", program.name,
                       os::Signals::name(*sig, name), o.grace_ms);
        }
        return stop.stop(std::chrono::milliseconds(o.grace_ms));
      },
      {.name = program.stop_fiber});
  const std::error_code e = serve(*listener, stop);
  (void)listener->close();  // new connections are refused from now on
  if (e != std::errc::operation_canceled) {
    std::fprintf(stderr, "%s: stopped serving: %s\n", program.name, e.message().c_str());
    serving_failed.cancel();
  }
  report(stopper.join());
  return e == std::errc::operation_canceled ? 0 : 1;
}

}  // namespace

int run(const Program& program, const Options& o, const Serve& serve, const Report& report) {
  std::unique_ptr<Runtime> runtime;
  // It throws for options that cannot go together (--mode single --workers 2)
  // or a backend the kernel lacks (--backend uring without io_uring).
  try {
    runtime = std::make_unique<Runtime>(runtime_options(o));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: %s\n", program.name, e.what());
    return 2;
  }
  Runtime& rt = *runtime;
  return rt.run([&] { return serve_until_stopped(program, o, rt, serve, report); });
}

void linger(net::TcpStream& stream) {
  if (!stream.is_open()) return;
  (void)stream.shutdown();
  char sink[4096];
  const Deadline until = after(std::chrono::milliseconds(200));
  for (std::size_t dropped = 0; dropped < (256u << 10);) {
    auto n = stream.read(MutableBuffer(sink, sizeof sink), {.deadline = until});
    if (!n || *n == 0) break;
    dropped += *n;
  }
}

}  // namespace weft::service
