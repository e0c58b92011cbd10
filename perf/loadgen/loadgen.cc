// weft-loadgen: a load generator for request/response servers, written as a
// weft program (one Runtime, one fiber per connection).
//
//   weft-loadgen --port 7878 --connections 64 --seconds 5              # closed loop
//   weft-loadgen --port 7878 --connections 64 --rate 20000 --server-pid $(pidof weft-echo)
//   weft-loadgen --protocol http --port 8080 --fresh --connections 4 --rate 100
//
// It prints one line of key=value pairs (human-readable notes go to stderr)
// and exits 0 when no request failed, 1 otherwise.
//
// Two modes:
//
//   closed loop (--rate 0, the default). Each connection sends a request,
//     waits for the whole response, records the round trip, and sends the
//     next at once. The load is whatever the server lets through: this finds
//     capacity, but the latency it reports is the server's, seen through a
//     client that stops sending whenever the server stalls. A stall of 10 ms
//     is recorded once per connection instead of once for every request that
//     would have been sent meanwhile ("coordinated omission"), and by
//     Little's law the mean latency is just connections / throughput.
//
//   open loop (--rate R). Requests are due at fixed times, R per second over
//     all connections: connection i of N sends its k-th request at
//     start + (i + k*N)/R, so each connection sends R/N per second and their
//     start times are staggered by 1/R. A request's latency is measured from
//     the time it was *due*, not the time it went out: when a connection
//     falls behind (its previous response came late), the next requests wait
//     their turn and that wait counts (they are `late`, never dropped). This
//     is the latency a user arriving at that rate would see. Requests due in
//     the window but still unsent when the drain deadline (window end + 2 s)
//     passes, or while the connection was down, are `unsent`.
//
// Connections. By default each connection fiber opens its connection once,
// before the load starts, and sends every request on it (a kept-alive
// client). With --fresh, each request gets a connection of its own: the
// fiber connects, sends, reads the whole answer and closes, and the request's
// latency includes the connect (and, on the server, the accept). That is
// what curl, a browser's first request or any HTTP/1.0 client costs a
// server, and it walks the server's accept path, which kept-alive load never
// does after its start. Both loops above work the same way with it; pace it
// with a few --connections and an open-loop --rate (each fresh request
// leaves a socket in TIME_WAIT on this side, so closed loop at full speed
// for long runs out of local ports).
//
// Which figure to compare. On a 2-core machine the generator and the server
// share the cores. In closed loop, requests per second measure the pair: a
// server that needs less CPU leaves more to the client, a cheaper client
// leaves more to the server, and the kernel's split of the two cores decides
// the rest. At a fixed offered rate below capacity both servers do the same
// work by construction (rps equals the rate), so what separates them is the
// CPU each spends doing it: server_cpu_us_per_req, the server's user +
// system time over the measured window (from /proc/<pid>/stat) divided by the
// requests answered. That figure does not depend on who wins the cores, as
// long as neither side is saturated (check that rps matches the rate and that
// late stays near 0). client_cpu_us_per_req is the generator's own cost
// (getrusage), to show how much of the machine the load itself took.
//
// Measurement: the window is [start + warmup, start + warmup + seconds), and
// CPU times are sampled at its two edges. `requests` are the responses that
// arrived inside the window (rps = requests / seconds, and the per-request
// CPU figures divide by it), so an overloaded server shows as rps below the
// rate. The latency distribution holds, in closed loop, those same requests;
// in open loop, every request that was *due* inside the window and was
// answered, however late (the ones answered after the window included).
//
// Thread rules: everything runs on the one worker of the Runtime, so the
// shared totals are plain counters (a fiber is never interrupted between
// two of its increments).
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <vector>

#include <weft/weft.h>

#include "perf/common/histogram.h"
#include "perf/common/proc_stat.h"
#include "perf/loadgen/options.h"
#include "perf/loadgen/protocol.h"

using namespace std::chrono_literals;

namespace weft::loadgen {
namespace {

constexpr std::size_t kConnectBatch = 256;         // connects in flight at once
constexpr Clock::duration kConnectTimeout = 3s;    // one connect
constexpr Clock::duration kConnectPhase = 60s;     // all of them
constexpr Clock::duration kGrace = 2s;             // after the window: finish in-flight requests
constexpr Clock::duration kReconnectPause = 50ms;  // between attempts after an error
constexpr int kErrorsShown = 8;                    // on stderr; the rest are only counted

Clock::duration seconds_to_duration(double s) {
  return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
}

// What every connection adds to; see the thread rules above.
struct Totals {
  perf::Histogram latency_ns;  // see "Measurement" above for which requests
  std::uint64_t requests = 0;  // responses that arrived inside the window
  std::uint64_t errors = 0;    // failed connects and failed requests
  std::uint64_t late = 0;      // open loop: requests due in the window, sent after their time
  std::uint64_t unsent = 0;    // open loop: requests due in the window, never sent
  int errors_shown = 0;

  void error(const char* what, std::error_code ec) {
    ++errors;
    if (errors_shown < kErrorsShown) {
      std::fprintf(stderr, "weft-loadgen: %s: %s\n", what, ec.message().c_str());
    } else if (errors_shown == kErrorsShown) {
      std::fprintf(stderr, "weft-loadgen: further errors are only counted\n");
    }
    if (errors_shown <= kErrorsShown) ++errors_shown;
  }
};

// The run's timeline: load starts at `start`, is measured from `measure` to
// `end`, and stops at `drain` at the latest.
struct Timeline {
  Deadline start;
  Deadline measure;
  Deadline end;
  Deadline drain;
};

struct Connection {
  int index = 0;
  net::TcpStream stream;
  std::unique_ptr<Exchange> exchange;
};

struct CpuSample {
  perf::CpuTime server;
  double client = 0;  // seconds, user + system
};

double client_cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  const auto sec = [](const timeval& tv) {
    return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6;
  };
  return sec(ru.ru_utime) + sec(ru.ru_stime);
}

CpuSample sample_cpu(const Options& o) {
  CpuSample s;
  if (o.server_pid != 0) s.server = perf::cpu_time_of(o.server_pid);
  s.client = client_cpu_seconds();
  return s;
}

// Opens o.connections connections, kConnectBatch at a time, each attempt
// bounded by kConnectTimeout and the whole phase by kConnectPhase. Failures
// are counted; the connections that worked are returned.
std::vector<Connection> connect_all(const Options& o, const net::Address& address,
                                    const Protocol& protocol, Totals& totals) {
  std::vector<Connection> conns;
  conns.reserve(static_cast<std::size_t>(o.connections));
  const auto t0 = Clock::now();
  const Deadline phase_end = t0 + kConnectPhase;
  const auto total = static_cast<std::size_t>(o.connections);
  std::size_t attempted = 0;
  while (attempted < total && Clock::now() < phase_end) {
    const std::size_t batch = std::min(kConnectBatch, total - attempted);
    const Deadline deadline = std::min(weft::after(kConnectTimeout), phase_end);
    std::vector<JoinHandle<Result<net::TcpStream>>> pending;
    pending.reserve(batch);
    for (std::size_t i = 0; i < batch; ++i) {
      pending.push_back(spawn(
          [&address, deadline] { return net::TcpStream::connect(address, {.deadline = deadline}); },
          {.name = "loadgen-connect"}));
    }
    for (auto& p : pending) {
      Result<net::TcpStream> s = p.join();
      if (!s) {
        totals.error("connect", s.error());
        continue;
      }
      conns.push_back({static_cast<int>(conns.size()), std::move(*s), protocol.new_exchange()});
    }
    attempted += batch;
  }
  if (attempted < total) {
    std::fprintf(stderr, "weft-loadgen: gave up connecting after %lld s: %zu not attempted\n",
                 static_cast<long long>(
                     std::chrono::duration_cast<std::chrono::seconds>(kConnectPhase).count()),
                 total - attempted);
    totals.errors += total - attempted;
  }
  std::fprintf(stderr, "weft-loadgen: %zu of %d connections to %s open in %.2f s\n", conns.size(),
               o.connections, address.to_string().c_str(),
               std::chrono::duration<double>(Clock::now() - t0).count());
  return conns;
}

// With --fresh: o.connections clients with no connection yet (each request
// opens its own).
std::vector<Connection> clients(const Options& o, const Protocol& protocol) {
  std::vector<Connection> out;
  out.reserve(static_cast<std::size_t>(o.connections));
  for (int i = 0; i < o.connections; ++i) out.push_back({i, net::TcpStream(), protocol.new_exchange()});
  return out;
}

class LoadGenerator {
 public:
  LoadGenerator(const Options& o, const net::Address& address, Totals& totals,
                const Timeline& timeline)
      : o_(o), address_(address), totals_(totals), t_(timeline) {}

  // Closed loop: send, wait for the response, record, repeat until the
  // window ends. Owner: the connection's fiber.
  void closed_loop(Connection& c) {
    const WaitOptions io{.deadline = t_.drain};
    while (Clock::now() < t_.end) {
      if (!o_.fresh && !c.stream.is_open() && !reconnect(c, t_.end)) return;
      const auto sent = Clock::now();
      Result<void> r = request(c, io);
      if (!r) {
        fail(c, r.error());
        continue;
      }
      const auto done = Clock::now();
      if (in_window(done)) {
        ++totals_.requests;
        record(done - sent);
      }
    }
  }

  // Open loop: request k of this connection is due at
  // start + (index + k * connections) / rate; it is sent then, or as soon as
  // the connection is free when it is behind, and its latency runs from the
  // due time. Owner: the connection's fiber.
  void open_loop(Connection& c, int connections) {
    const double period_ns = 1e9 / o_.rate;  // between two requests of the whole generator
    const WaitOptions io{.deadline = t_.drain};
    for (std::uint64_t k = 0;; ++k) {
      const Deadline due = due_time(c.index, k, connections, period_ns);
      if (due >= t_.end) return;
      const bool measured = due >= t_.measure;
      if (!o_.fresh && !c.stream.is_open() && !reconnect(c, t_.end)) {
        count_unsent(c.index, k, connections, period_ns);
        return;
      }
      const auto now = Clock::now();
      if (now >= t_.drain) {
        count_unsent(c.index, k, connections, period_ns);
        return;
      }
      if (now < due) {
        sleep_until(due);
      } else if (measured) {
        ++totals_.late;
      }
      Result<void> r = request(c, io);
      if (!r) {
        fail(c, r.error());
        continue;  // this request is lost (an error); the next ones go on the new connection
      }
      const auto done = Clock::now();
      if (in_window(done)) ++totals_.requests;
      if (measured) record(done - due);
    }
  }

 private:
  Deadline due_time(int index, std::uint64_t k, int connections, double period_ns) const {
    const double slot = static_cast<double>(index) + static_cast<double>(k) * connections;
    return t_.start + std::chrono::nanoseconds(static_cast<std::int64_t>(slot * period_ns));
  }

  // Requests k, k+1, ... due inside the window will never be sent.
  void count_unsent(int index, std::uint64_t k, int connections, double period_ns) {
    for (;; ++k) {
      const Deadline due = due_time(index, k, connections, period_ns);
      if (due >= t_.end) return;
      if (due >= t_.measure) ++totals_.unsent;
    }
  }

  bool in_window(Deadline t) const { return t >= t_.measure && t < t_.end; }

  // One request on the connection's stream, or with --fresh on a connection
  // opened for it (the connect bounded by kConnectTimeout too) and closed
  // once its whole answer is in.
  Result<void> request(Connection& c, const WaitOptions& io) {
    if (!o_.fresh) return c.exchange->round_trip(c.stream, io);
    auto s = net::TcpStream::connect(address_,
                                     {.deadline = std::min(io.deadline, weft::after(kConnectTimeout))});
    if (!s) return s.error();
    Result<void> r = c.exchange->round_trip(*s, io);
    (void)s->close();
    return r;
  }

  void record(Clock::duration latency) {
    totals_.latency_ns.record(static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(latency).count()));
  }

  // A request failed: count it and drop the connection (reconnect() opens a
  // new one before the next request). With --fresh there is none to drop;
  // pause as reconnect() would, so a refused connect cannot spin.
  void fail(Connection& c, std::error_code ec) {
    totals_.error("request", ec);
    (void)c.stream.close();
    if (o_.fresh) sleep_until(std::min(weft::after(kReconnectPause), t_.end));
  }

  // Connects again, pausing kReconnectPause before each attempt, until
  // `until`. Each failed attempt is an error.
  bool reconnect(Connection& c, Deadline until) {
    for (;;) {
      const Deadline pause_end = weft::after(kReconnectPause);
      if (pause_end >= until) return false;
      sleep_until(pause_end);
      const Deadline deadline = std::min(weft::after(kConnectTimeout), until);
      auto s = net::TcpStream::connect(address_, {.deadline = deadline});
      if (s) {
        c.stream = std::move(*s);
        return true;
      }
      totals_.error("reconnect", s.error());
    }
  }

  const Options& o_;
  const net::Address& address_;
  Totals& totals_;
  const Timeline& t_;
};

void report(const Options& o, const Totals& t, const CpuSample& before, const CpuSample& after) {
  const auto us = [](std::uint64_t ns) { return static_cast<double>(ns) / 1000.0; };
  const auto& h = t.latency_ns;
  std::printf(
      "protocol=%s connections=%d fresh=%d size=%zu mode=%s rate=%g seconds=%g requests=%" PRIu64
      " rps=%.0f p50_us=%.1f p90_us=%.1f p99_us=%.1f p999_us=%.1f max_us=%.1f errors=%" PRIu64
      " late=%" PRIu64 " unsent=%" PRIu64,
      o.protocol.c_str(), o.connections, o.fresh ? 1 : 0, o.size, o.open_loop() ? "open" : "closed", o.rate,
      o.seconds, t.requests, static_cast<double>(t.requests) / o.seconds, us(h.quantile(0.5)),
      us(h.quantile(0.9)), us(h.quantile(0.99)), us(h.quantile(0.999)), us(h.max()), t.errors,
      t.late, t.unsent);
  if (t.requests > 0) {
    const double per = 1e6 / static_cast<double>(t.requests);  // seconds -> us per request
    if (o.server_pid != 0) {
      if (before.server.ok && after.server.ok) {
        const double user = (after.server.user - before.server.user) * per;
        const double sys = (after.server.system - before.server.system) * per;
        std::printf(
            " server_user_us_per_req=%.2f server_sys_us_per_req=%.2f "
            "server_cpu_us_per_req=%.2f",
            user, sys, user + sys);
      } else {
        std::fprintf(stderr, "weft-loadgen: cannot read /proc/%d/stat; no server CPU figures\n",
                     o.server_pid);
      }
    }
    std::printf(" client_cpu_us_per_req=%.2f", (after.client - before.client) * per);
  }
  std::printf("\n");
  std::fflush(stdout);
}

// The whole run, on the main fiber. Returns the exit status.
int run(const Options& o, const net::Address& address, const Protocol& protocol) {
  Totals totals;
  std::vector<Connection> conns = o.fresh ? clients(o, protocol) : connect_all(o, address, protocol, totals);
  CpuSample before, after;
  if (conns.empty()) {
    std::fprintf(stderr, "weft-loadgen: no connection could be opened; nothing was measured\n");
    report(o, totals, before, after);
    return 1;
  }

  const auto start = Clock::now();
  const Timeline timeline{
      .start = start,
      .measure = start + seconds_to_duration(o.warmup),
      .end = start + seconds_to_duration(o.warmup + o.seconds),
      .drain = start + seconds_to_duration(o.warmup + o.seconds) + kGrace,
  };
  LoadGenerator gen(o, address, totals, timeline);
  const int n = static_cast<int>(conns.size());
  std::vector<JoinHandle<void>> fibers;
  fibers.reserve(conns.size());
  for (auto& c : conns) {
    fibers.push_back(spawn(
        [&gen, &c, &o, n] {
          if (o.open_loop()) {
            gen.open_loop(c, n);
          } else {
            gen.closed_loop(c);
          }
        },
        {.name = "loadgen-conn"}));
  }
  sleep_until(timeline.measure);
  before = sample_cpu(o);
  sleep_until(timeline.end);
  after = sample_cpu(o);
  for (auto& f : fibers) f.join();  // each ends by timeline.drain at the latest

  report(o, totals, before, after);
  return totals.errors == 0 ? 0 : 1;
}

// Makes room for one descriptor per connection (the soft limit, up to the
// hard one).
void raise_descriptor_limit(int connections) {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return;
  const auto want = static_cast<rlim_t>(connections) + 64;
  if (rl.rlim_cur >= want) return;
  rl.rlim_cur = std::min(want, rl.rlim_max);
  setrlimit(RLIMIT_NOFILE, &rl);
  if (rl.rlim_cur < want) {
    std::fprintf(stderr,
                 "weft-loadgen: descriptor limit %llu is below %d connections; expect "
                 "connect errors (raise ulimit -n)\n",
                 static_cast<unsigned long long>(rl.rlim_cur), connections);
  }
}

}  // namespace
}  // namespace weft::loadgen

int main(int argc, char** argv) {
  using namespace weft::loadgen;
  const Options o = parse_options(argc, argv);
  auto address = weft::net::Address::parse(o.host, static_cast<std::uint16_t>(o.port));
  if (!address) {
    std::fprintf(stderr, "weft-loadgen: --host '%s' is not a numeric IPv4 or IPv6 address\n",
                 o.host.c_str());
    return 2;
  }
  const std::unique_ptr<Protocol> protocol = make_protocol(o.protocol, {.size = o.size, .host = o.host, .path = o.path});
  if (!protocol) {
    std::fprintf(stderr, "weft-loadgen: unknown --protocol '%s' (known: echo, http)\n",
                 o.protocol.c_str());
    return 2;
  }
  raise_descriptor_limit(o.connections);
  try {
    weft::RuntimeOptions ro;
    ro.workers = 1;  // the thread rule above: one worker, whatever the CPUs or WEFT_WORKERS
    ro.ring_entries = 4096;  // thousands of connections queue thousands of requests a round
    weft::Runtime rt(ro);
    return rt.run([&] { return run(o, *address, *protocol); });
  } catch (const std::exception& e) {
    std::fprintf(stderr, "weft-loadgen: %s\n", e.what());
    return 1;
  }
}
