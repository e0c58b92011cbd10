// weft-soak's command line: every value is checked, so a typo stops the run
// instead of soaking something else.
#include "perf/soak/options.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "perf/common/usage.h"

namespace weft::soak {
namespace {

constexpr const char* kUsage =
    "usage: weft-soak --server PATH [options] -- [server arguments]\n"
    "       weft-soak --self-test\n"
    "Starts the server, holds N connections to it doing echo or HTTP with random\n"
    "sizes, pipelining, half-closes, resets and idle periods, checks every byte, and\n"
    "says whether anything was lost, corrupted, leaked or grew.\n"
    "  --server PATH       the server program; its arguments follow `--`, where\n"
    "                      @PORT@ becomes a free port; it must print a line with\n"
    "                      'listening on HOST:PORT' (stdout or stderr)\n"
    "  --protocol P        echo: messages written and read back byte for byte;\n"
    "                      http: pipelined POST /echo and GET /ping (echo)\n"
    "  --connections N     connections held at once (10000)\n"
    "  --seconds S         length of the load, warm-up included (60)\n"
    "  --warmup W          load after every connection opened, before the first\n"
    "                      loaded sample (seconds / 3, at most --max-life)\n"
    "  --seed N            seed of every random choice and byte (1)\n"
    "  --max-size BYTES    largest message or request body (65536)\n"
    "  --max-depth N       most messages or requests in flight on a connection (8)\n"
    "  --max-life S        a connection lives 1 s to S s, then ends as it planned (120)\n"
    "  --max-connecting N  connections at once handshaking or not yet answered on;\n"
    "                      keep it below the server's listen backlog (weft: 1024) (1000)\n"
    "  --max-idle-ms MS    longest idle period or read pause; keep it below the\n"
    "                      server's idle timeout (weft-http: 30 s) (2000)\n"
    "  --rss-tolerance T   how much the server's RSS may grow from the first\n"
    "                      sample to the last: 20% or 64MiB (20%)\n"
    "  --stall-timeout S   bytes owed and nothing moving for S seconds is an error (20)\n"
    "  --connect-timeout S (10)    --drain-timeout S: the final drain (20)\n"
    "  --settle-timeout S  wait for the server's descriptors to come back (10)\n"
    "  --fibers WHICH      gdb fiber counts: none, idle (before and after the\n"
    "                      connections), all (and with every one open: gdb takes\n"
    "                      about 7 ms a fiber, the server stopped meanwhile) (idle)\n"
    "  --gdb-script PATH   tools/gdb/weft.py (the source tree's)\n"
    "  --server-nofile N   the server's RLIMIT_NOFILE (connections + 1024)\n"
    "  --progress S        a progress line on stderr every S seconds, 0: none (10)\n"
    "  --self-test         check the checker: corrupted, lost and misplaced bytes\n"
    "                      and bad HTTP answers must be caught; exits 0 if they are\n"
    "prints key=value lines and a verdict; exits 0 if nothing was lost or corrupt,\n"
    "no unexpected error happened, descriptors and fibers came back to where they\n"
    "started and RSS stayed within the tolerance; 1 if not; 2 on a bad option;\n"
    "77 if it cannot run here (descriptor limit)\n";

[[noreturn]] void usage(const std::string& why) { perf::bad_usage("weft-soak", why, kUsage); }

double number(const std::string& option, const char* text, double low, double high) {
  errno = 0;
  char* end = nullptr;
  const double v = std::strtod(text, &end);
  if (end == text || *end != '\0' || errno != 0 || !std::isfinite(v) || v < low || v > high) {
    usage(option + " wants a number from " + std::to_string(low) + " to " + std::to_string(high) +
          ", not '" + text + "'");
  }
  return v;
}

long integer(const std::string& option, const char* text, long low, long high) {
  const double v = number(option, text, static_cast<double>(low), static_cast<double>(high));
  if (v != std::floor(v)) usage(option + " wants a whole number, not '" + std::string(text) + "'");
  return static_cast<long>(v);
}

// "20%" or "64MiB".
void rss_tolerance(Options& o, const std::string& text) {
  const auto ends = [&](const char* tail) {
    const std::size_t n = std::strlen(tail);
    return text.size() > n && text.compare(text.size() - n, n, tail) == 0;
  };
  if (ends("%")) {
    o.rss_tolerance_percent =
        number("--rss-tolerance", text.substr(0, text.size() - 1).c_str(), 0, 1000);
    o.rss_tolerance_mib = 0;
  } else if (ends("MiB")) {
    o.rss_tolerance_mib =
        number("--rss-tolerance", text.substr(0, text.size() - 3).c_str(), 0, 1 << 20);
    if (o.rss_tolerance_mib <= 0) usage("--rss-tolerance in MiB must be above 0");
  } else {
    usage("--rss-tolerance wants a percentage (20%) or MiB (64MiB), not " + text);
  }
}

}  // namespace

// A third of the run, at most --max-life: by then the connections alive
// are about as old as they get, and so are their buffers in the server
// (weft-http keeps, per connection, room for the largest body it has read),
// so what RSS does after it is the server's, not the run's ramp.
double Options::warmup_seconds() const {
  if (warmup >= 0) return warmup;
  return std::clamp(seconds / 3, std::min(2.0, max_life), max_life);
}

Options parse_options(int argc, char** argv) {
  Options o;
  int end = argc;  // the server's arguments begin after `--`
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--") == 0) {
      end = i;
      for (int k = i + 1; k < argc; ++k) o.server_args.emplace_back(argv[k]);
      break;
    }
  }
  perf::exit_if_help(end, argv, kUsage);
  for (int i = 1; i < end; ++i) {
    const std::string a = argv[i];
    if (a == "--self-test") {
      o.self_test = true;
      continue;
    }
    if (i + 1 >= end) usage("missing value after " + a);
    const char* v = argv[++i];
    if (a == "--server") {
      o.server = v;
    } else if (a == "--protocol") {
      if (std::strcmp(v, "echo") == 0) {
        o.protocol = Protocol::echo;
      } else if (std::strcmp(v, "http") == 0) {
        o.protocol = Protocol::http;
      } else {
        usage("--protocol must be echo or http");
      }
    } else if (a == "--connections") {
      o.connections = static_cast<int>(integer(a, v, 1, 1'000'000));
    } else if (a == "--seconds") {
      o.seconds = number(a, v, 1, 7 * 86400);
    } else if (a == "--warmup") {
      o.warmup = number(a, v, 0, 3600);
    } else if (a == "--seed") {
      o.seed = static_cast<std::uint64_t>(integer(a, v, 0, 1L << 52));
    } else if (a == "--max-size") {
      o.max_size = static_cast<std::size_t>(integer(a, v, 1, 1 << 20));
    } else if (a == "--max-depth") {
      o.max_depth = static_cast<unsigned>(integer(a, v, 1, 64));
    } else if (a == "--max-life") {
      o.max_life = number(a, v, 1, 86400);
    } else if (a == "--max-connecting") {
      o.max_connecting = static_cast<int>(integer(a, v, 1, 1'000'000));
    } else if (a == "--max-idle-ms") {
      o.max_idle_ms = static_cast<unsigned>(integer(a, v, 1, 60'000));
    } else if (a == "--rss-tolerance") {
      rss_tolerance(o, v);
    } else if (a == "--stall-timeout") {
      o.stall_timeout = number(a, v, 0.1, 3600);
    } else if (a == "--connect-timeout") {
      o.connect_timeout = number(a, v, 0.1, 3600);
    } else if (a == "--drain-timeout") {
      o.drain_timeout = number(a, v, 0.1, 3600);
    } else if (a == "--settle-timeout") {
      o.settle_timeout = number(a, v, 0, 3600);
    } else if (a == "--progress") {
      o.progress_every = number(a, v, 0, 86400);
    } else if (a == "--fibers") {
      if (std::strcmp(v, "none") == 0) {
        o.fibers = FiberCount::none;
      } else if (std::strcmp(v, "idle") == 0) {
        o.fibers = FiberCount::idle;
      } else if (std::strcmp(v, "all") == 0) {
        o.fibers = FiberCount::all;
      } else {
        usage("--fibers must be none, idle or all");
      }
    } else if (a == "--gdb-script") {
      o.gdb_script = v;
    } else if (a == "--server-nofile") {
      o.server_nofile = integer(a, v, 64, 1L << 30);
    } else {
      usage("unknown option " + a);
    }
  }
  if (!o.self_test && o.server.empty()) usage("--server PATH is needed (or --self-test)");
  if (o.warmup_seconds() >= o.seconds) usage("--warmup must be shorter than --seconds");
  if (o.server_nofile == 0) o.server_nofile = o.connections + 1024L;
  return o;
}

}  // namespace weft::soak
