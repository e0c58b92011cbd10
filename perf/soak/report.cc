#include "perf/soak/report.h"

#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <set>
#include <sstream>

namespace weft::soak {
namespace {

void kv(const char* key, long long v) { std::printf("%s=%lld\n", key, v); }
void kv(const char* key, std::uint64_t v) { std::printf("%s=%" PRIu64 "\n", key, v); }
void kv(const char* key, double v) { std::printf("%s=%.2f\n", key, v); }
void kv(const char* key, const std::string& v) { std::printf("%s=%s\n", key, v.c_str()); }

// A figure, or "n/a" when it could not be read.
std::string or_na(long v) { return v < 0 ? "n/a" : std::to_string(v); }

std::string fibers_text(const Sample& s) {
  if (!s.fibers_taken) return "not_counted";
  if (!s.fibers.ok) return "n/a";
  return std::to_string(s.fibers.count);
}

class Checks {
 public:
  void expect(bool ok, const std::string& what) {
    if (ok) return;
    std::fprintf(stderr, "weft-soak: FAIL %s\n", what.c_str());
    failed_.push_back(what);
  }
  bool passed() const { return failed_.empty(); }
  std::size_t failures() const { return failed_.size(); }

 private:
  std::vector<std::string> failed_;
};

bool is_stats_line(const std::string& line) {
  // "spawns                65": a name, blanks, a number.
  std::istringstream in(line);
  std::string name;
  long long v = 0;
  std::string rest;
  return static_cast<bool>(in >> name >> v) && !(in >> rest) &&
         name.find_first_not_of("abcdefghijklmnopqrstuvwxyz_") == std::string::npos;
}

}  // namespace

ServerSays read_server_lines(const std::vector<std::string>& lines) {
  ServerSays says;
  for (const std::string& line : lines) {
    if (const std::size_t at = line.find(" connections closed in the grace period, ");
        at != std::string::npos) {
      // "...; F connections closed in the grace period, C cut off"
      const std::size_t start = line.rfind(' ', at - 1);
      says.closed_in_grace = std::atol(line.c_str() + (start == std::string::npos ? 0 : start + 1));
      says.cut_off =
          std::atol(line.c_str() + at + std::strlen(" connections closed in the grace period, "));
      says.stop_line = true;
      continue;
    }
    if (is_stats_line(line)) {
      std::istringstream in(line);
      std::string name;
      long v = 0;
      in >> name >> v;
      says.stats[name] = v;
    }
  }
  return says;
}

int report(const Findings& f) {
  const Options& o = *f.options;
  const Tally& t = f.tally;
  Checks check;

  kv("protocol", std::string(o.protocol == Protocol::echo ? "echo" : "http"));
  kv("connections", static_cast<long long>(o.connections));
  kv("seconds", f.load_seconds);
  kv("warmup_seconds", o.warmup_seconds());
  kv("seed", o.seed);
  kv("max_size", static_cast<long long>(o.max_size));
  kv("max_depth", static_cast<long long>(o.max_depth));
  kv("server", f.server_command);
  kv("server_pid", static_cast<long long>(f.server_pid));
  kv("server_nofile", or_na(f.server_nofile));
  kv("client_nofile", or_na(f.client_nofile));
  // connections
  kv("open_seconds", f.open_seconds);
  kv("connections_peak", static_cast<long long>(f.peak));
  kv("connects", t.connects);
  // bytes
  kv("bytes_sent", t.bytes_sent);
  kv("bytes_verified", t.bytes_verified);
  kv("bytes_lost", t.bytes_lost);
  kv("bytes_corrupt", t.bytes_corrupt);
  kv("bytes_discarded_by_resets", t.bytes_discarded);
  // what was done on purpose
  if (o.protocol == Protocol::echo) {
    kv("messages", t.messages);
  } else {
    kv("requests", t.requests);
    kv("pings", t.pings);
    kv("server_closes", t.server_closes);
  }
  kv("closes", t.closes);
  kv("half_closes", t.half_closes);
  kv("resets_caused", t.resets_caused);
  kv("idle_periods", t.idle_periods);
  kv("read_pauses", t.read_pauses);
  // errors
  kv("errors", t.errors_total());
  for (std::size_t k = 0; k < t.errors.size(); ++k) {
    const std::string key = std::string("error_") + kErrorNames[k];
    kv(key.c_str(), t.errors[k]);
  }
  check.expect(t.bytes_lost == 0, "lost bytes: " + std::to_string(t.bytes_lost) + " (must be 0)");
  check.expect(t.bytes_corrupt == 0,
               "corrupt bytes: " + std::to_string(t.bytes_corrupt) + " (must be 0)");
  for (std::size_t k = 0; k < t.errors.size(); ++k) {
    check.expect(t.errors[k] == 0,
                 std::string(kErrorNames[k]) + ": " + std::to_string(t.errors[k]) + " (must be 0)");
  }
  check.expect(f.all_opened, "not every connection could be opened (" + std::to_string(f.peak) +
                                 " at most, of " + std::to_string(o.connections) + ")");
  check.expect(t.bytes_verified > 0, "nothing came back at all");

  // the server's memory: the first loaded sample against the last one and
  // the one after the drain
  const long allowed =
      o.rss_tolerance_mib > 0
          ? static_cast<long>(o.rss_tolerance_mib * 1024)
          : static_cast<long>(static_cast<double>(f.start.rss_kib) * o.rss_tolerance_percent / 100);
  const long growth = f.last.rss_kib - f.start.rss_kib;
  kv("held_at_start_sample", static_cast<long long>(f.start.held));
  kv("held_at_last_sample", static_cast<long long>(f.last.held));
  kv("rss_idle_kib", or_na(f.idle.rss_kib));
  kv("rss_start_kib", or_na(f.start.rss_kib));
  kv("rss_last_kib", or_na(f.last.rss_kib));
  kv("rss_end_kib", or_na(f.end.rss_kib));
  const bool rss_read = f.start.rss_kib > 0 && f.last.rss_kib >= 0 && f.end.rss_kib >= 0;
  if (rss_read) {
    kv("rss_growth_kib", static_cast<long long>(growth));
    kv("rss_growth_percent",
       100.0 * static_cast<double>(growth) / static_cast<double>(f.start.rss_kib));
  } else {
    kv("rss_growth_kib", std::string("n/a"));
  }
  kv("rss_allowed_growth_kib", static_cast<long long>(allowed));
  char tolerance[32];
  if (o.rss_tolerance_mib > 0) {
    std::snprintf(tolerance, sizeof tolerance, "%gMiB", o.rss_tolerance_mib);
  } else {
    std::snprintf(tolerance, sizeof tolerance, "%g%%", o.rss_tolerance_percent);
  }
  kv("rss_tolerance", std::string(tolerance));
  // (A server that died has no memory or descriptors left to judge: that
  // it died is the failure.)
  if (rss_read) {
    check.expect(growth <= allowed, "RSS grew by " + std::to_string(growth) + " KiB under load (" +
                                        std::to_string(allowed) + " KiB allowed)");
    check.expect(f.end.rss_kib <= f.start.rss_kib + allowed,
                 "RSS after the drain is " + std::to_string(f.end.rss_kib) +
                     " KiB, above the first sample (" + std::to_string(f.start.rss_kib) +
                     " KiB) + " + std::to_string(allowed) + " KiB");
  } else if (!f.server_died) {
    check.expect(false, "the server's RSS could not be read");
  }

  // descriptors
  kv("fds_idle", or_na(f.idle.fds));
  kv("fds_start", or_na(f.start.fds));
  kv("fds_last", or_na(f.last.fds));
  kv("fds_end", or_na(f.end.fds));
  kv("settle_seconds", f.settle_seconds);
  check.expect(f.server_died || (f.end.fds >= 0 && f.end.fds == f.idle.fds),
               "descriptors: " + or_na(f.end.fds) + " after every connection closed, " +
                   or_na(f.idle.fds) + " before the first");
  if (f.end.fds > f.idle.fds) {
    const std::set<std::string> before(f.fds_idle_targets.begin(), f.fds_idle_targets.end());
    int shown = 0;
    for (const std::string& fd : f.fds_end_targets) {
      if (before.count(fd) == 0 && shown++ < 20)
        std::fprintf(stderr, "weft-soak: extra descriptor %s\n", fd.c_str());
    }
  }

  // fibers (and their stacks)
  kv("fibers_idle", fibers_text(f.idle));
  kv("fibers_start", fibers_text(f.start));
  kv("fibers_end", fibers_text(f.end));
  for (const Sample* s : {&f.idle, &f.start, &f.end}) {
    if (s->fibers_taken && !s->fibers.ok) {
      std::fprintf(stderr, "weft-soak: fibers not counted: %s\n", s->fibers.why.c_str());
    }
  }
  if (f.idle.fibers_taken && f.end.fibers_taken) {
    if (f.idle.fibers.ok && f.end.fibers.ok) {
      check.expect(f.end.fibers.count == f.idle.fibers.count,
                   "fibers: " + std::to_string(f.end.fibers.count) +
                       " after every connection closed, " + std::to_string(f.idle.fibers.count) +
                       " before the first");
      if (f.end.fibers.count > f.idle.fibers.count) {
        int shown = 0;
        for (const std::string& line : f.end.fibers.fibers) {
          if (shown++ < 20) std::fprintf(stderr, "weft-soak: fiber at the end: %s\n", line.c_str());
        }
      }
    }
    kv("fibers_gdb_seconds", f.end.fibers.took_seconds);
    if (f.start.fibers_taken) kv("fibers_start_gdb_seconds", f.start.fibers.took_seconds);
  }

  // what the server said of itself
  const ServerSays says = read_server_lines(f.server_lines);
  if (says.stop_line) {
    kv("server_stop_closed_in_grace", static_cast<long long>(says.closed_in_grace));
    kv("server_stop_cut_off", static_cast<long long>(says.cut_off));
    check.expect(says.closed_in_grace == 0 && says.cut_off == 0,
                 "the server still had connections when it stopped (" +
                     std::to_string(says.closed_in_grace) + " closed in the grace period, " +
                     std::to_string(says.cut_off) + " cut off)");
  }
  for (const char* name : {"spawns", "fibers_live", "stack_slots", "stack_pages_committed"}) {
    if (const auto it = says.stats.find(name); it != says.stats.end()) {
      const std::string key = std::string("server_exit_") + name;
      kv(key.c_str(), static_cast<long long>(it->second));
    }
  }
  int shown = 0;
  for (const std::string& line : f.server_lines) {
    if (!is_stats_line(line) && shown++ < 30)
      std::fprintf(stderr, "weft-soak: server said: %s\n", line.c_str());
  }
  if (f.server_cpu_seconds >= 0) kv("server_cpu_seconds", f.server_cpu_seconds);
  kv("client_cpu_seconds", f.client_cpu_seconds);
  kv("server_end", f.server_end);
  kv("drain_seconds", f.drain_seconds);
  check.expect(!f.server_died, "the server ended during the run (" + f.server_end + ")");
  check.expect(f.server_clean, "the server did not end cleanly (" + f.server_end + ")");
  check.expect(f.drained, "the final drain did not close every connection in --drain-timeout");

  kv("verdict", std::string(check.passed() ? "PASS" : "FAIL"));
  if (!check.passed()) kv("failed_checks", static_cast<long long>(check.failures()));
  std::fflush(stdout);
  return check.passed() ? 0 : 1;
}

}  // namespace weft::soak
