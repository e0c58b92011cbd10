// weft-soak's command line.
//
// Thread rules: parse_options() on main(), before anything starts.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace weft::soak {

enum class Protocol { echo, http };

// Which fiber counts are taken with gdb (tools/gdb/weft.py, `info weft-fibers`).
enum class FiberCount {
  none,  // not counted
  idle,  // before the first connection and after the last one closed
  all,   // and with every connection open (stops the server for a moment)
};

struct Options {
  std::string server;                    // --server PATH
  std::vector<std::string> server_args;  // after `--`; "@PORT@" becomes a free port
  Protocol protocol = Protocol::echo;
  int connections = 10'000;
  double seconds = 60;  // the load phase, warm-up included
  double warmup = -1;   // < 0: seconds / 3, at most max_life
  std::uint64_t seed = 1;
  std::size_t max_size = 64 << 10;    // largest message or body
  unsigned max_depth = 8;             // most messages or requests in flight on a connection
  unsigned max_idle_ms = 2000;        // longest idle period or read pause
  double max_life = 120;              // a connection lives 1 s to this long (seconds)
  int max_connecting = 1000;          // connections handshaking or not yet answered on
  double rss_tolerance_percent = 20;  // --rss-tolerance 20%
  double rss_tolerance_mib = 0;       // --rss-tolerance 64MiB (used when above 0)
  double stall_timeout = 20;
  double connect_timeout = 10;
  double drain_timeout = 20;
  double settle_timeout = 10;
  double progress_every = 10;  // seconds between progress lines on stderr; 0: none
  FiberCount fibers = FiberCount::idle;
  std::string gdb_script;  // empty: the source tree's tools/gdb/weft.py
  long server_nofile = 0;  // 0: connections + 1024
  bool self_test = false;

  double warmup_seconds() const;
};

// Parses argv; prints the usage and exits 2 on a bad option, 0 on --help.
Options parse_options(int argc, char** argv);

}  // namespace weft::soak
