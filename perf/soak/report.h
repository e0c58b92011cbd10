// What a soak run found, and its summary: key=value lines on stdout, one
// `FAIL ...` line on stderr for each check that failed, and the verdict.
//
// The checks (each must hold for exit status 0):
//   1. no byte lost, no byte corrupt;
//   2. no unexpected error (tally.h: every ErrorKind counts);
//   3. every slot opened its first connection, and the final drain closed
//      every connection in time;
//   4. the server ran the whole time and ended cleanly (status 0, or by the
//      SIGTERM the soak sent);
//   5. its descriptors, once every connection closed and it settled, were
//      as many as before the first connection;
//   6. its fibers (gdb) were as many as before the first connection, where
//      gdb could count them; and where the server says what its graceful
//      stop found (weft-http's last line), no connection was still open;
//   7. its RSS grew from the first loaded sample (after the warm-up) to the
//      last (before the drain) by no more than the tolerance, and was no
//      higher than that after the drain either.
//
// Thread rules: main() only.
#pragma once

#include <sys/types.h>

#include <map>
#include <string>
#include <vector>

#include "perf/soak/options.h"
#include "perf/soak/probe.h"
#include "perf/soak/tally.h"

namespace weft::soak {

// The server, seen from outside at one moment.
struct Sample {
  double at_seconds = 0;  // since the load began
  long rss_kib = -1;
  long fds = -1;
  int held = 0;  // connections the client held
  bool fibers_taken = false;
  FiberCensus fibers;
};

struct Findings {
  const Options* options = nullptr;
  Tally tally;
  // the server
  std::string server_command;
  pid_t server_pid = 0;
  long server_nofile = -1;
  long client_nofile = -1;
  std::string server_end;  // "exit 0", "killed by SIGTERM"
  bool server_clean = false;
  bool server_died = false;  // during the load or the drain
  std::vector<std::string> server_lines;
  std::vector<std::string> fds_idle_targets, fds_end_targets;
  // the samples
  Sample idle, start, last, end;
  // the phases
  int peak = 0;
  bool all_opened = false;
  double open_seconds = 0;
  bool drained = false;
  double drain_seconds = 0;
  double settle_seconds = 0;
  double load_seconds = 0;
  // CPU time over the run (user + system seconds), to tell a saturated
  // machine from an idle one
  double server_cpu_seconds = -1;
  double client_cpu_seconds = -1;
};

// Prints the summary; returns the exit status (0: every check held, 1: not).
int report(const Findings& f);

// From weft-http's last line ("... N connections closed in the grace
// period, M cut off") and from the counters WEFT_STATS=1 prints when a
// weft runtime ends ("fibers_live 0"): what the server said of itself.
struct ServerSays {
  bool stop_line = false;
  long closed_in_grace = -1;
  long cut_off = -1;
  std::map<std::string, long> stats;  // "spawns", "stack_slots", "fibers_live", ...
};
ServerSays read_server_lines(const std::vector<std::string>& lines);

}  // namespace weft::soak
