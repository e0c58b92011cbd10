// weft-echo: a TCP echo server, and a closed-loop client to load it.
//
//   weft-echo --port 7878                       # serve until killed
//   weft-echo --client --port 7878 --connections 64 --size 64 --seconds 5
//
// The client opens N connections, each a fiber that writes a message and
// reads it back as fast as it can, and prints one line of key=value results:
// requests per second and the round-trip latency distribution. Given the
// server's pid (--server-pid) it adds the server's CPU time per request.
// mimalloc is this program's allocator, except in sanitizer builds: they
// must see every allocation's life (memory a fiber frees and another
// reuses), which an uninstrumented mimalloc hides (as in alloc/heap.h).
#ifndef WEFT_SANITIZE_BUILD
#include <mimalloc-new-delete.h>
#endif

#include <cerrno>
#include <cstdio>
#include <exception>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <weft/weft.h>

#include "perf/common/histogram.h"
#include "perf/common/proc_stat.h"
#include "perf/common/usage.h"

using namespace std::chrono_literals;
using weft::Clock;
using weft::net::TcpListener;
using weft::net::TcpStream;

namespace {

struct Options {
  bool client = false;
  std::string host = "127.0.0.1";
  int port = 7878;
  int connections = 64;
  std::size_t size = 64;
  double seconds = 0;  // server: 0 = until killed; client: default 5
  int server_pid = 0;
  int workers = 0;  // 0: WEFT_WORKERS, else one per CPU
  std::string backend;  // empty: WEFT_BACKEND, else io_uring with epoll fallback
  std::string mode;     // empty: WEFT_MODE, else multi
  std::string disable;  // comma-separated io_uring features to switch off
  std::size_t send_zc = 0;       // zero-copy sends from this many bytes (0: never)
  unsigned ring_entries = 0;     // submission queue size, i.e. the largest batch (0: default)
  unsigned provided_buffers = 0;  // receive through a ring of this many buffers (0: never)
};

constexpr const char* kUsage =
    "usage: weft-echo [--host H] [--port P] [--seconds S]\n"
    "       weft-echo --client [--host H] [--port P] [--connections N] [--size BYTES]\n"
    "                 [--seconds S] [--server-pid PID]\n"
    "common: [--workers N] [--backend uring|epoll] [--mode multi|single]\n"
    "        [--disable defer_taskrun,single_issuer,registered_ring_fd,multishot_accept]\n"
    "        [--send-zc MIN_BYTES] [--ring-entries N] [--provided-buffers N]\n"
    "a server (until killed, or for S seconds) or, with --client, a closed-loop client\n"
    "that prints one line of key=value results\n";

[[noreturn]] void usage(const std::string& why) { weft::perf::bad_usage("weft-echo", why, kUsage); }

Options parse(int argc, char** argv) {
  weft::perf::exit_if_help(argc, argv, kUsage);
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage("missing value after " + a);
      return argv[++i];
    };
    // A whole non-negative number, or the usage line.
    auto count = [&]() -> unsigned long long {
      const std::string v = value();
      char* end = nullptr;
      const unsigned long long n = std::strtoull(v.c_str(), &end, 10);
      if (v.empty() || *end != '\0' || v[0] == '-') usage(a + " wants a number, not " + v);
      return n;
    };
    if (a == "--client")
      o.client = true;
    else if (a == "--host")
      o.host = value();
    else if (a == "--port")
      o.port = std::atoi(value().c_str());
    else if (a == "--connections")
      o.connections = std::atoi(value().c_str());
    else if (a == "--size")
      o.size = static_cast<std::size_t>(std::atol(value().c_str()));
    else if (a == "--seconds")
      o.seconds = std::atof(value().c_str());
    else if (a == "--server-pid")
      o.server_pid = std::atoi(value().c_str());
    else if (a == "--workers")
      o.workers = std::atoi(value().c_str());
    else if (a == "--backend")
      o.backend = value();
    else if (a == "--mode")
      o.mode = value();
    else if (a == "--disable")
      o.disable = value();
    else if (a == "--send-zc")
      o.send_zc = static_cast<std::size_t>(count());
    else if (a == "--provided-buffers")
      o.provided_buffers = static_cast<unsigned>(count());
    else if (a == "--ring-entries")
      o.ring_entries = static_cast<unsigned>(count());
    else
      usage("unknown option " + a);
  }
  if (o.port <= 0 || o.port > 65535) usage("--port must be 1..65535");
  if (o.connections < 1) usage("--connections must be at least 1");
  if (o.size < 1 || o.size > (64u << 20)) usage("--size must be 1 byte to 64 MiB");
  if (!o.backend.empty() && o.backend != "uring" && o.backend != "epoll") {
    usage("--backend must be uring or epoll");
  }
  if (o.workers < 0 || o.workers > 1024) usage("--workers must be 0 (one per CPU) to 1024");
  if (!o.mode.empty() && o.mode != "multi" && o.mode != "single") usage("--mode must be multi or single");
  return o;
}

// Echoes until the peer closes or its group is cancelled (the reads and
// writes are scoped to it).
void echo(TcpStream conn) {
  std::vector<char> buf(16 << 10);
  for (;;) {
    auto n = conn.read(buf);
    if (!n || *n == 0) return;
    if (!conn.write_all(weft::ConstBuffer(buf.data(), *n))) return;
  }
}

weft::RuntimeOptions runtime_options(const Options& o) {
  weft::RuntimeOptions r;
  if (o.backend == "uring") r.backend = weft::BackendKind::uring;
  if (o.backend == "epoll") r.backend = weft::BackendKind::epoll;
  if (!o.mode.empty()) r.mode = o.mode == "single" ? weft::Mode::single : weft::Mode::multi;
  r.workers = static_cast<std::size_t>(o.workers);
  if (o.send_zc != 0) r.send_zc_min = o.send_zc;
  if (o.ring_entries != 0) r.ring_entries = o.ring_entries;
  if (o.provided_buffers != 0) r.provided_buffers = o.provided_buffers;
  std::string list = o.disable + ",";
  for (std::size_t at = 0, comma; (comma = list.find(',', at)) != std::string::npos;
       at = comma + 1) {
    const std::string f = list.substr(at, comma - at);
    if (f.empty()) continue;
    if (f == "defer_taskrun")
      r.defer_taskrun = false;
    else if (f == "single_issuer")
      r.single_issuer = false;
    else if (f == "registered_ring_fd")
      r.register_ring_fd = false;
    else if (f == "multishot_accept")
      r.multishot_accept = false;
    else
      usage("--disable: unknown feature " + f);
  }
  return r;
}

int serve(const Options& o) {
  weft::Runtime rt(runtime_options(o));
  return rt.run([&] {
    auto bound = TcpListener::bind({o.host, static_cast<std::uint16_t>(o.port)});
    if (!bound) {
      std::fprintf(stderr, "weft-echo: cannot listen on %s:%d: %s\n", o.host.c_str(), o.port,
                   bound.error().message().c_str());
      return 1;
    }
    TcpListener listener = std::move(*bound);
    std::fprintf(stderr, "weft-echo: listening on %s\n",
                 listener.local_address()->to_string().c_str());
    // One child a connection: no handle to keep or sweep, and at the end
    // one cancel stops them all and one wait sees them gone.
    weft::TaskGroup conns;
    const weft::Deadline end = o.seconds > 0
                                   ? weft::after(std::chrono::duration_cast<Clock::duration>(
                                         std::chrono::duration<double>(o.seconds)))
                                   : weft::kNoDeadline;
    for (;;) {
      auto conn = listener.accept({.deadline = end});
      if (!conn) {
        if (conn.error() == std::errc::timed_out) break;
        std::fprintf(stderr, "weft-echo: accept: %s\n", conn.error().message().c_str());
        if (conn.error() == std::errc::too_many_files_open) weft::sleep_for(10ms);
        continue;
      }
      // A connection's failure (its buffer not allocated) ends it alone: a
      // child that threw would cancel the whole group.
      conns.spawn(
          [c = std::move(*conn)]() mutable {
            try {
              echo(std::move(c));
            } catch (const std::exception& e) {
              std::fprintf(stderr, "weft-echo: a connection ended: %s\n", e.what());
            }
          },
          {.name = "echo-conn"});
    }
    conns.cancel();
    (void)conns.wait();
    return 0;
  });
}

struct ClientResult {
  weft::perf::Histogram latency_ns;
  std::uint64_t requests = 0;
  std::uint64_t errors = 0;
};

int run_client(const Options& o) {
  weft::Runtime rt(runtime_options(o));
  return rt.run([&] {
    const weft::net::Address address(o.host, static_cast<std::uint16_t>(o.port));
    std::vector<TcpStream> streams;
    for (int i = 0; i < o.connections; ++i) {
      auto s = TcpStream::connect(address, {.deadline = weft::after(5s)});
      if (!s) {
        std::fprintf(stderr, "weft-echo: connect to %s: %s\n", address.to_string().c_str(),
                     s.error().message().c_str());
        return 1;
      }
      streams.push_back(std::move(*s));
    }
    const double seconds = o.seconds > 0 ? o.seconds : 5;
    const weft::perf::CpuTime cpu0 =
        o.server_pid ? weft::perf::cpu_time_of(o.server_pid) : weft::perf::CpuTime{};
    const auto start = Clock::now();
    const auto end =
        start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
    std::vector<weft::JoinHandle<ClientResult>> fibers;
    for (auto& s : streams) {
      fibers.push_back(weft::spawn(
          [&s, &o, end] {
            ClientResult r;
            std::vector<char> out(o.size, 'w'), in(o.size);
            while (Clock::now() < end) {
              const auto t0 = Clock::now();
              if (!s.write_all(out, {.deadline = end + 1s}) ||
                  !s.read_exact(in, {.deadline = end + 1s})) {
                ++r.errors;
                break;
              }
              r.latency_ns.record(static_cast<std::uint64_t>((Clock::now() - t0).count()));
              ++r.requests;
            }
            return r;
          },
          {.name = "echo-client"}));
    }
    ClientResult total;
    for (auto& f : fibers) {
      ClientResult r = f.join();
      total.latency_ns.merge(r.latency_ns);
      total.requests += r.requests;
      total.errors += r.errors;
    }
    const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    const weft::perf::CpuTime cpu1 =
        o.server_pid ? weft::perf::cpu_time_of(o.server_pid) : weft::perf::CpuTime{};
    const auto us = [&](double q) {
      return static_cast<double>(total.latency_ns.quantile(q)) / 1000.0;
    };
    std::printf(
        "connections=%d size=%zu seconds=%.1f requests=%llu rps=%.0f p50_us=%.1f p99_us=%.1f "
        "p999_us=%.1f max_us=%.1f errors=%llu",
        o.connections, o.size, elapsed, static_cast<unsigned long long>(total.requests),
        static_cast<double>(total.requests) / elapsed, us(0.5), us(0.99), us(0.999),
        static_cast<double>(total.latency_ns.max()) / 1000.0,
        static_cast<unsigned long long>(total.errors));
    if (cpu0.ok && cpu1.ok && total.requests > 0) {
      const double per = 1e6 / static_cast<double>(total.requests);
      std::printf(" server_user_us_per_req=%.2f server_sys_us_per_req=%.2f",
                  (cpu1.user - cpu0.user) * per, (cpu1.system - cpu0.system) * per);
    }
    std::printf("\n");
    return total.errors == 0 ? 0 : 1;
  });
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);
  try {
    return o.client ? run_client(o) : serve(o);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "weft-echo: %s\n", e.what());
    return 1;
  }
}
