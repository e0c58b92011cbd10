// weft-loadgen's command line: every value is checked, so a typo stops the
// run instead of measuring something else.
#include "perf/loadgen/options.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "perf/common/usage.h"

namespace weft::loadgen {
namespace {

constexpr const char* kUsage =
    "usage: weft-loadgen [--host H] [--port P] [--connections N] [--size BYTES]\n"
    "                    [--seconds D] [--warmup W] [--rate R] [--server-pid PID]\n"
    "                    [--protocol echo|http] [--path /ping] [--fresh]\n"
    "  --host          numeric IPv4 or IPv6 address of the server (127.0.0.1)\n"
    "  --port          its port (7878)\n"
    "  --connections   connections, one fiber each (64)\n"
    "  --size          bytes per message (64)\n"
    "  --seconds       length of the measured window (5)\n"
    "  --warmup        seconds of load before the window, not counted (1)\n"
    "  --rate          requests per second over all connections, open loop;\n"
    "                  0 = closed loop: each connection sends as soon as it has\n"
    "                  its answer (0)\n"
    "  --server-pid    report that process's CPU time per request\n"
    "  --protocol      echo: write BYTES, read them back (echo);\n"
    "                  http: GET --path, read one 200 response\n"
    "  --path          the http request target (/ping)\n"
    "  --fresh         a new TCP connection for every request: connect, send,\n"
    "                  read the whole answer, close (as curl or an HTTP/1.0 client);\n"
    "                  the connect counts in the latency, and --connections is then\n"
    "                  the number of clients, each one request at a time\n"
    "prints one line of key=value pairs; exits 0 when there were no errors, 1 otherwise\n";

[[noreturn]] void usage(const std::string& why) { perf::bad_usage("weft-loadgen", why, kUsage); }

double number(const std::string& option, const char* text) {
  errno = 0;
  char* end = nullptr;
  const double v = std::strtod(text, &end);
  if (end == text || *end != '\0' || errno != 0 || !std::isfinite(v)) {
    usage(option + " needs a number, not '" + text + "'");
  }
  return v;
}

long integer(const std::string& option, const char* text, long low, long high) {
  const double v = number(option, text);
  if (v != std::floor(v) || v < static_cast<double>(low) || v > static_cast<double>(high)) {
    usage(option + " must be a whole number from " + std::to_string(low) + " to " +
          std::to_string(high));
  }
  return static_cast<long>(v);
}

}  // namespace

Options parse_options(int argc, char** argv) {
  perf::exit_if_help(argc, argv, kUsage);
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--fresh") {
      o.fresh = true;
      continue;
    }
    if (i + 1 >= argc) usage("missing value after " + a);
    const char* v = argv[++i];
    if (a == "--host") {
      o.host = v;
    } else if (a == "--port") {
      o.port = static_cast<int>(integer(a, v, 1, 65535));
    } else if (a == "--connections") {
      o.connections = static_cast<int>(integer(a, v, 1, 1'000'000));
    } else if (a == "--size") {
      o.size = static_cast<std::size_t>(integer(a, v, 1, 64 << 20));
    } else if (a == "--seconds") {
      o.seconds = number(a, v);
      if (o.seconds <= 0 || o.seconds > 86400)
        usage("--seconds must be above 0 (and at most a day)");
    } else if (a == "--warmup") {
      o.warmup = number(a, v);
      if (o.warmup < 0 || o.warmup > 3600) usage("--warmup must be 0 to 3600 seconds");
    } else if (a == "--rate") {
      o.rate = number(a, v);
      if (o.rate < 0 || o.rate > 1e9) usage("--rate must be 0 (closed loop) to 1e9 requests/s");
    } else if (a == "--server-pid") {
      o.server_pid = static_cast<int>(integer(a, v, 1, 1 << 30));
    } else if (a == "--protocol") {
      o.protocol = v;
    } else if (a == "--path") {
      o.path = v;
      if (o.path.empty() || o.path[0] != '/' || o.path.find_first_of(" \r\n") != std::string::npos)
        usage("--path must start with / and hold no spaces or line breaks");
    } else {
      usage("unknown option " + a);
    }
  }
  return o;
}

}  // namespace weft::loadgen
