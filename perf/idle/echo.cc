// weft-idle-echo: the echo server a service that holds many idle
// connections writes on weft, as perf/idle measures it: a fiber per
// connection, reading into a 4 KiB buffer on its stack and writing back what
// came. Its peers in Go, Tokio and Node (perf/peers/) are the same program.
//
//   weft-idle-echo --port 0 --backend uring --workers 1
//
// Runs until killed. Prints "listening on HOST:PORT" on stderr.
//
// Thread rules: main() makes the runtime; everything else runs on fibers.
#include <cstdio>
#include <string>

#include <weft/weft.h>

#include "perf/common/bench.h"
#include "perf/common/runtime_options.h"
#include "perf/common/usage.h"

namespace {

constexpr const char* kUsage =
    "usage: weft-idle-echo [--port P] [--backend uring|epoll] [--workers W] [--mode multi|single]\n"
    "An echo server, a fiber per connection with a 4 KiB buffer on its stack,\n"
    "for perf/idle (weft-idle). Runs until killed.\n";

void echo(weft::net::TcpStream conn) {
  char buf[4096];
  for (;;) {
    auto n = conn.read(weft::MutableBuffer(buf, sizeof buf));
    if (!n || *n == 0) return;
    if (!conn.write_all(weft::ConstBuffer(buf, *n))) return;
  }
}

}  // namespace

int main(int argc, char** argv) {
  weft::perf::exit_if_help(argc, argv, kUsage);
  weft::RuntimeOptions options = weft::perf::runtime_options(argc, argv, "weft-idle-echo");
  const std::string mode = weft::perf::text_option(argc, argv, "--mode", "");
  if (mode == "single") options.mode = weft::Mode::single;
  else if (mode == "multi") options.mode = weft::Mode::multi;
  else if (!mode.empty()) weft::perf::bad_usage("weft-idle-echo", "--mode must be multi or single", kUsage);
  const long port = weft::perf::option(argc, argv, "--port", 0);
  if (port < 0 || port > 65535) weft::perf::bad_usage("weft-idle-echo", "--port must be 0 to 65535", kUsage);
  weft::Runtime rt(options);
  return rt.run([&] {
    auto bound = weft::net::TcpListener::bind({"127.0.0.1", static_cast<std::uint16_t>(port)}, 4096);
    if (!bound) {
      std::fprintf(stderr, "weft-idle-echo: %s\n", bound.error().message().c_str());
      return 1;
    }
    std::fprintf(stderr, "weft-idle-echo: listening on %s\n", bound->local_address()->to_string().c_str());
    for (;;) {
      auto conn = bound->accept();
      if (!conn) {
        if (conn.error() == std::errc::too_many_files_open) weft::sleep_for(std::chrono::milliseconds(10));
        continue;
      }
      weft::spawn([c = std::move(*conn)]() mutable { echo(std::move(c)); }).detach();
    }
  });
}
