// weft-bench-node: the Node façade's socket path (node/loop.h) under
// request/reply load: round trips per second, µs per round trip, and what
// the runtime did per round trip.
//
// A weft::node::Server on 127.0.0.1 (port 0) runs in one Runtime in single
// mode (Node's model: one thread, one ring or epoll set). Each request is 16
// bytes; the server's 'data' callback answers each whole request with
// --writes socket.write() calls of --bytes bytes each, as an application
// writes a reply in pieces (status line, headers, pieces of a body); the
// last write carries a callback. So the figures follow how the Socket's
// writer fiber sends a queue of small writes.
//
// The client is a second thread with blocking sockets (not weft), so the
// runtime's counters count the server alone: it opens --connections
// connections, then in a closed loop sends one request on each and reads
// each whole reply, checking every byte, until --round-trips replies have
// come back or --seconds have passed. It shares the machine's cores with the
// server: on 2 cores the client's system calls are in the wall-clock
// figures too.
//
// Printed (key=value): round_trips, seconds, round_trips_per_s,
// us_per_round_trip (elapsed / round trips, all connections together; with
// --connections 1 it is the latency); the runtime's counters per round trip
// between the last connection's accept and the client's first end
// (switches, parks, spawns, rounds, sqes_submitted, ring_enters,
// epoll_waits); and the write callbacks: how long after write() they ran
// (mean, max) and how many ran after the same socket's next request had
// arrived (done_after_next_request). System calls per round trip are not
// counted here: run it under `strace -c -f` for those (on io_uring the
// sends are SQEs, counted as sqes_submitted).
//
//   weft-bench-node [--connections C] [--writes W] [--bytes B]
//                   [--round-trips N] [--seconds S] [--backend uring|epoll]
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <weft/node/loop.h>
#include <weft/weft.h>

#include "perf/common/bench.h"
#include "perf/common/runtime_options.h"
#include "perf/common/usage.h"

namespace {

constexpr const char* kUsage =
    "usage: weft-bench-node [--connections C] [--writes W] [--bytes B]\n"
    "                       [--round-trips N] [--seconds S] [--backend uring|epoll]\n"
    "  --connections  client connections, one request in flight on each (8)\n"
    "  --writes       socket.write() calls per reply (8)\n"
    "  --bytes        bytes per write (16)\n"
    "  --round-trips  stop after this many replies, all connections together (100000)\n"
    "  --seconds      ... or after this long (10)\n"
    "  --backend      uring or epoll (WEFT_BACKEND, else io_uring with epoll fallback)\n"
    "a node::Server in single mode answering each request with W small writes, a\n"
    "blocking client thread; prints key=value lines\n";

using weft::perf::kv;

constexpr std::size_t kRequest = 16;  // "CCCCC SSSSSSSSS\n": connection, sequence

struct Shape {
  long connections = 8;
  long writes = 8;
  long bytes = 16;
  long round_trips = 100000;
  long seconds = 10;
};

std::string request(long conn, long seq) {
  // Both numbers are taken modulo their width and are never negative, so the
  // text is exactly kRequest bytes; the buffer is larger only because the
  // compiler cannot see that (-Wformat-truncation in Debug builds).
  char r[32];
  std::snprintf(r, sizeof r, "%05lu %09lu\n",
                static_cast<unsigned long>(conn) % 100000UL,
                static_cast<unsigned long>(seq) % 1000000000UL);
  return std::string(r, kRequest);
}

// Piece `i` of the reply to `req`: `bytes` bytes, the request's first bytes
// with its first byte replaced by a letter naming the piece, then dots.
std::string piece(std::string_view req, long i, long bytes) {
  std::string s(static_cast<std::size_t>(bytes), '.');
  std::memcpy(s.data(), req.data(), std::min<std::size_t>(s.size(), req.size()));
  s[0] = static_cast<char>('A' + i % 26);
  return s;
}

// ---- the client: a thread with blocking sockets --------------------------------

struct ClientResult {
  long round_trips = 0;
  double seconds = 0;
  std::string error;  // empty if every reply came back whole and right
};

bool send_all(int fd, const char* p, std::size_t n) {
  while (n > 0) {
    const ssize_t w = ::send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w;
    n -= static_cast<std::size_t>(w);
  }
  return true;
}

bool recv_all(int fd, char* p, std::size_t n) {
  while (n > 0) {
    const ssize_t r = ::recv(fd, p, n, 0);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    p += r;
    n -= static_cast<std::size_t>(r);
  }
  return true;
}

ClientResult run_client(std::uint16_t port, const Shape& shape) {
  ClientResult out;
  std::vector<int> fds;
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  for (long c = 0; c < shape.connections; ++c) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const int one = 1;
    if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
      out.error = std::string("connect: ") + std::strerror(errno);
      if (fd >= 0) ::close(fd);
      break;
    }
    (void)::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    fds.push_back(fd);
  }
  const std::size_t reply_size = static_cast<std::size_t>(shape.writes * shape.bytes);
  std::string reply(reply_size, '\0');
  std::string expected;
  const std::uint64_t start = weft::perf::now_ns();
  const std::uint64_t limit = start + static_cast<std::uint64_t>(shape.seconds) * 1000000000ull;
  for (long seq = 0; out.error.empty() && out.round_trips < shape.round_trips; ++seq) {
    for (std::size_t c = 0; c < fds.size(); ++c) {
      const std::string req = request(static_cast<long>(c), seq);
      if (!send_all(fds[c], req.data(), req.size())) out.error = "send failed";
    }
    for (std::size_t c = 0; c < fds.size() && out.error.empty(); ++c) {
      if (!recv_all(fds[c], reply.data(), reply.size())) {
        out.error = "the reply ended early";
        break;
      }
      const std::string req = request(static_cast<long>(c), seq);
      expected.clear();
      for (long i = 0; i < shape.writes; ++i) expected += piece(req, i, shape.bytes);
      if (reply != expected) out.error = "a reply's bytes differ from what was written";
      ++out.round_trips;
    }
    if (weft::perf::now_ns() >= limit) break;
  }
  out.seconds = static_cast<double>(weft::perf::now_ns() - start) / 1e9;
  for (int fd : fds) ::close(fd);  // the server sees each end and closes its side
  return out;
}

// ---- the server: the façade, on the runtime's one thread -------------------------

struct ServerFigures {
  weft::Stats at_start{};  // the last connection accepted
  weft::Stats at_end{};    // the client's first end
  bool started = false;
  bool ended = false;
  long served_in_window = 0;
  long done_callbacks = 0;
  long done_after_next_request = 0;
  double done_delay_ns_sum = 0;
  double done_delay_ns_max = 0;
  bool timed_out = false;
};

// One accepted socket's state, held by its callbacks.
struct Conn {
  std::string in;                 // bytes of a request not yet whole
  bool done_outstanding = false;  // the last reply's write callback has not run
};

double per(std::uint64_t after, std::uint64_t before, long n) {
  return n > 0 ? static_cast<double>(after - before) / static_cast<double>(n) : 0;
}

}  // namespace

int main(int argc, char** argv) {
  weft::perf::exit_if_help(argc, argv, kUsage);
  Shape shape;
  shape.connections = weft::perf::option(argc, argv, "--connections", shape.connections);
  shape.writes = weft::perf::option(argc, argv, "--writes", shape.writes);
  shape.bytes = weft::perf::option(argc, argv, "--bytes", shape.bytes);
  shape.round_trips = weft::perf::option(argc, argv, "--round-trips", shape.round_trips);
  shape.seconds = weft::perf::option(argc, argv, "--seconds", shape.seconds);
  if (shape.connections < 1 || shape.connections > 10000 || shape.writes < 1 || shape.bytes < 1 ||
      shape.round_trips < 1 || shape.seconds < 1) {
    weft::perf::bad_usage(
        "weft-bench-node",
        "--connections must be 1..10000, --writes, --bytes, --round-trips and --seconds >= 1",
        kUsage);
  }
  weft::RuntimeOptions options = weft::perf::runtime_options(argc, argv, "weft-bench-node");
  options.mode = weft::Mode::single;
  options.workers = 1;

  ClientResult client;
  ServerFigures f;
  weft::Runtime rt(options);
  rt.run([&] {
    std::printf("backend=%s mode=%s connections=%ld writes=%ld bytes=%ld client=thread\n",
                rt.backend_name(), rt.mode_name(), shape.connections, shape.writes, shape.bytes);
    std::thread client_thread;
    weft::node::Loop loop;
    // Outlive the main module: the callbacks use them.
    long accepted = 0;
    long closed = 0;
    std::shared_ptr<weft::node::Server> server;
    std::vector<std::shared_ptr<weft::node::Socket>> sockets;
    weft::node::TimerHandle watchdog;
    loop.run([&] {
      // A bound on the whole run: should the client stop short, the loop
      // still ends.
      watchdog = loop.set_timeout(
          [&] {
            f.timed_out = true;
            server->close();
            for (auto& sock : sockets) sock->destroy();
          },
          (shape.seconds + 30) * 1000);
      server = loop.create_server([&](std::shared_ptr<weft::node::Socket> sock) {
        sockets.push_back(sock);
        if (++accepted == shape.connections) {
          server->close();  // every connection is in: accept no more
          f.at_start = weft::stats();
          f.started = true;
        }
        auto conn = std::make_shared<Conn>();
        weft::node::Socket* s = sock.get();  // the callbacks live in the socket
        sock->on_data([&, s, conn](std::string_view chunk) {
          if (conn->done_outstanding) ++f.done_after_next_request;
          conn->in.append(chunk);
          std::size_t at = 0;
          for (; conn->in.size() - at >= kRequest; at += kRequest) {
            const std::string_view req(conn->in.data() + at, kRequest);
            for (long i = 0; i + 1 < shape.writes; ++i) s->write(piece(req, i, shape.bytes));
            conn->done_outstanding = true;
            const std::uint64_t written = weft::perf::now_ns();
            s->write(piece(req, shape.writes - 1, shape.bytes), [&, conn, written] {
              const double d = static_cast<double>(weft::perf::now_ns() - written);
              conn->done_outstanding = false;
              ++f.done_callbacks;
              f.done_delay_ns_sum += d;
              if (d > f.done_delay_ns_max) f.done_delay_ns_max = d;
            });
            if (f.started && !f.ended) ++f.served_in_window;
          }
          conn->in.erase(0, at);
        });
        sock->on_end([&] {
          if (!f.ended) {
            f.at_end = weft::stats();
            f.ended = true;
          }
        });
        sock->on_error([](std::error_code e) {
          std::fprintf(stderr, "weft-bench-node: socket error: %s\n", e.message().c_str());
        });
        sock->on_close([&] {
          if (++closed == shape.connections) loop.clear_timeout(watchdog);
        });
      });
      server->listen(0, "127.0.0.1", [&] {
        const std::uint16_t port = server->port();
        client_thread = std::thread([&client, port, &shape] { client = run_client(port, shape); });
      });
    });
    if (client_thread.joinable()) client_thread.join();
  });

  kv("round_trips", static_cast<double>(client.round_trips), "%.0f");
  kv("seconds", client.seconds, "%.3f");
  const double per_s =
      client.seconds > 0 ? static_cast<double>(client.round_trips) / client.seconds : 0;
  kv("round_trips_per_s", per_s, "%.0f");
  kv("us_per_round_trip", per_s > 0 ? 1e6 / per_s : 0, "%.3f");
  const long n = f.served_in_window;
  kv("window_round_trips", static_cast<double>(n), "%.0f");
  kv("switches_per_round_trip", per(f.at_end.switches, f.at_start.switches, n));
  kv("parks_per_round_trip", per(f.at_end.parks, f.at_start.parks, n));
  kv("spawns_per_round_trip", per(f.at_end.spawns, f.at_start.spawns, n));
  kv("rounds_per_round_trip", per(f.at_end.rounds, f.at_start.rounds, n));
  kv("sqes_per_round_trip", per(f.at_end.sqes_submitted, f.at_start.sqes_submitted, n));
  kv("ring_enters_per_round_trip", per(f.at_end.ring_enters, f.at_start.ring_enters, n));
  kv("epoll_waits_per_round_trip", per(f.at_end.epoll_waits, f.at_start.epoll_waits, n));
  kv("done_callbacks", static_cast<double>(f.done_callbacks), "%.0f");
  kv("done_delay_us_mean",
     f.done_callbacks > 0 ? f.done_delay_ns_sum / 1e3 / static_cast<double>(f.done_callbacks) : 0);
  kv("done_delay_us_max", f.done_delay_ns_max / 1e3);
  kv("done_after_next_request", static_cast<double>(f.done_after_next_request), "%.0f");
  bool ok = true;
  if (!client.error.empty()) {
    std::fprintf(stderr, "weft-bench-node: client: %s\n", client.error.c_str());
    ok = false;
  }
  if (f.timed_out) {
    std::fprintf(stderr, "weft-bench-node: the run did not end within --seconds + 30\n");
    ok = false;
  }
  if (f.done_callbacks != client.round_trips) {
    std::fprintf(stderr, "weft-bench-node: %ld write callbacks ran for %ld replies\n",
                 f.done_callbacks, client.round_trips);
    ok = false;
  }
  return ok ? 0 : 1;
}
