// weft-idle: what an idle connection costs a server. Starts an echo server,
// holds N idle TCP connections to it, reads the server's memory, then wakes
// every connection once (each sends B bytes and waits for them back) and
// reads it again. Prints key=value lines (perf/idle/run makes the table).
//
//   weft-idle --connections 100000 --server build/bin/weft-idle-echo -- --port 0 --backend uring
//
// What it reads, each before the first connection ("idle"), with every
// connection open and quiet ("held"), and after the wake ("woken"):
//   rss      the server's VmRSS (/proc/PID/status);
//   anon     its anonymous memory (/proc/PID/smaps_rollup): heaps and
//            stacks, what a runtime's own choices cost, without the
//            program's file pages;
//   tcp      the kernel's memory for TCP sockets (/proc/net/sockstat),
//            machine-wide: the client's ends are in it too.
// and per connection: (held - idle) / N, (woken - idle) / N.
//
// The client is plain epoll and shares the server's two cores. N above the
// ephemeral ports of one address: connections come from 127.0.0.2, .3, ...
// (25,000 each, IP_BIND_ADDRESS_NO_PORT), to 127.0.0.1. Both processes'
// descriptor limits are raised (root). Bounded: connecting, accepting and
// the wake each give up after --timeout seconds.
//
// Not linked with weft: the server is measured from outside.
//
// Thread rules: one thread.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "perf/soak/probe.h"
#include "perf/soak/server.h"

namespace {

using Clock = std::chrono::steady_clock;
using weft::soak::Server;

constexpr const char* kUsage =
    "usage: weft-idle --server PATH [options] -- [server arguments]\n"
    "Starts the echo server, holds N idle connections to it, reads its memory,\n"
    "wakes every connection once and reads it again (see perf/idle/idle.cc).\n"
    "  --server PATH      the server; '@PORT@' in its arguments becomes a free port;\n"
    "                     it must print 'listening on HOST:PORT'\n"
    "  --connections N    connections held (100000)\n"
    "  --payload B        bytes each connection echoes when woken, 1-4096 (64)\n"
    "  --settle-ms MS     wait before each reading of memory (1000)\n"
    "  --in-flight N      connects at once, below the server's backlog (500)\n"
    "  --timeout S        for connecting, accepting and the wake, each (120)\n"
    "  --label TEXT       printed as label= (the server's name in the table)\n";

struct Options {
  std::string server;
  std::vector<std::string> args;
  long connections = 100000;
  int payload = 64;
  int settle_ms = 1000;
  int in_flight = 500;
  double timeout = 120;
  std::string label;
};

[[noreturn]] void usage(const std::string& why) {
  std::fprintf(stderr, "weft-idle: %s\n%s", why.c_str(), kUsage);
  std::exit(2);
}

long number(const char* s, long lo, long hi, const char* what) {
  char* end = nullptr;
  errno = 0;
  const long v = std::strtol(s, &end, 10);
  if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi) usage(std::string(what) + ", not '" + s + "'");
  return v;
}

Options parse(int argc, char** argv) {
  Options o;
  int i = 1;
  for (; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "-h" || a == "--help") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    }
    if (a == "--") {
      ++i;
      break;
    }
    if (i + 1 >= argc) usage("missing value after " + a);
    const char* v = argv[++i];
    if (a == "--server") o.server = v;
    else if (a == "--connections") o.connections = number(v, 1, 1'000'000, "--connections must be 1 to 1000000");
    else if (a == "--payload") o.payload = static_cast<int>(number(v, 1, 4096, "--payload must be 1 to 4096"));
    else if (a == "--settle-ms") o.settle_ms = static_cast<int>(number(v, 0, 60'000, "--settle-ms must be 0 to 60000"));
    else if (a == "--in-flight") o.in_flight = static_cast<int>(number(v, 1, 100'000, "--in-flight must be 1 to 100000"));
    else if (a == "--timeout") o.timeout = static_cast<double>(number(v, 1, 3600, "--timeout must be 1 to 3600 s"));
    else if (a == "--label") o.label = v;
    else usage("unknown option " + a);
  }
  for (; i < argc; ++i) o.args.emplace_back(argv[i]);
  if (o.server.empty()) usage("--server is required");
  return o;
}

struct Memory {
  long rss = -1, anon = -1, tcp = -1;
};

Memory read_memory(pid_t pid) { return {weft::soak::rss_kib(pid), weft::soak::anon_kib(pid), weft::soak::tcp_kernel_kib()}; }

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// The byte a connection sends at `at` of its payload: differs between
// connections, so a reply that reached the wrong one shows.
char pattern(std::size_t conn, int at) { return static_cast<char>('a' + (conn * 7 + static_cast<std::size_t>(at)) % 26); }

class Run {
 public:
  explicit Run(const Options& o) : o_(o) {}

  int go() {
    const long need = o_.connections + 1024;
    if (weft::soak::raise_nofile(need) < 0) {
      std::fprintf(stderr, "weft-idle: cannot raise this process's descriptor limit to %ld (root?)\n", need);
      return 1;
    }
    std::vector<std::string> args = o_.args;
    const int port_hint = weft::soak::free_port();
    for (auto& a : args) {
      if (const auto at = a.find("@PORT@"); at != std::string::npos) a.replace(at, 6, std::to_string(port_hint));
    }
    Server server(o_.server, args, need, {});
    std::string host;
    int port = 0;
    if (!server.wait_listening(std::chrono::seconds(10), &host, &port)) {
      std::fprintf(stderr, "weft-idle: the server did not say 'listening on HOST:PORT' (%s)\n",
                   server.how_it_ended().c_str());
      for (const auto& l : server.lines()) std::fprintf(stderr, "  %s\n", l.c_str());
      return 1;
    }
    const pid_t pid = server.pid();
    settle();
    const Memory idle = read_memory(pid);
    const long fds_idle = weft::soak::fd_count(pid);

    epoll_ = epoll_create1(EPOLL_CLOEXEC);
    const auto connect_began = Clock::now();
    if (!connect_all(port)) return finish(server, 1);
    const double connect_seconds = seconds_since(connect_began);
    // Every connection accepted (and, in the runtimes, a fiber or task
    // parked in its read) before memory is read.
    const auto accept_began = Clock::now();
    while (weft::soak::fd_count(pid) < fds_idle + o_.connections) {
      if (seconds_since(accept_began) > o_.timeout || !server.running()) {
        std::fprintf(stderr, "weft-idle: the server holds %ld descriptors, not %ld\n", weft::soak::fd_count(pid),
                     fds_idle + o_.connections);
        return finish(server, 1);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    settle();
    const Memory held = read_memory(pid);

    const auto wake_began = Clock::now();
    if (!wake_all()) return finish(server, 1);
    const double wake_seconds = seconds_since(wake_began);
    settle();
    const Memory woken = read_memory(pid);

    const double n = static_cast<double>(o_.connections);
    auto per = [n](long after, long before) { return after < 0 || before < 0 ? -1.0 : (after - before) * 1024.0 / n; };
    std::printf("label=%s\nserver=%s\nconnections=%ld\npayload=%d\n", o_.label.c_str(), o_.server.c_str(),
                o_.connections, o_.payload);
    std::printf("rss_idle_kib=%ld\nrss_held_kib=%ld\nrss_woken_kib=%ld\n", idle.rss, held.rss, woken.rss);
    std::printf("anon_idle_kib=%ld\nanon_held_kib=%ld\nanon_woken_kib=%ld\n", idle.anon, held.anon, woken.anon);
    std::printf("tcp_kernel_idle_kib=%ld\ntcp_kernel_held_kib=%ld\n", idle.tcp, held.tcp);
    std::printf("rss_per_conn_held_b=%.0f\nanon_per_conn_held_b=%.0f\n", per(held.rss, idle.rss), per(held.anon, idle.anon));
    std::printf("rss_per_conn_woken_b=%.0f\nanon_per_conn_woken_b=%.0f\n", per(woken.rss, idle.rss),
                per(woken.anon, idle.anon));
    std::printf("tcp_kernel_per_conn_b=%.0f\n", per(held.tcp, idle.tcp));
    std::printf("connect_seconds=%.3f\nwake_seconds=%.3f\n", connect_seconds, wake_seconds);
    std::printf("wake_per_second=%.0f\n", n / wake_seconds);
    return finish(server, 0);
  }

 private:
  void settle() const { std::this_thread::sleep_for(std::chrono::milliseconds(o_.settle_ms)); }

  int finish(Server& server, int status) {
    for (int fd : fds_) ::close(fd);
    fds_.clear();
    if (epoll_ >= 0) ::close(epoll_);
    epoll_ = -1;
    server.stop(std::chrono::seconds(5));
    std::printf("server_end=%s\nverdict=%s\n", server.how_it_ended().c_str(), status == 0 ? "PASS" : "FAIL");
    return status;
  }

  // Opens every connection, at most in_flight connecting at once; each
  // from 127.0.0.(2 + i / 25000).
  bool connect_all(int port) {
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(static_cast<std::uint16_t>(port));
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    fds_.assign(static_cast<std::size_t>(o_.connections), -1);
    std::vector<bool> counted(fds_.size(), false);
    long next = 0, connected = 0, connecting = 0;
    epoll_event events[512];
    const auto began = Clock::now();
    while (connected < o_.connections) {
      while (next < o_.connections && connecting < o_.in_flight) {
        const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) return fail("socket", errno);
        const int one = 1;
        setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
        sockaddr_in from{};
        from.sin_family = AF_INET;
        from.sin_addr.s_addr = htonl(INADDR_LOOPBACK + 1 + static_cast<std::uint32_t>(next / 25000));
        if (::bind(fd, reinterpret_cast<sockaddr*>(&from), sizeof from) != 0) return fail("bind", errno);
        if (::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0 && errno != EINPROGRESS)
          return fail("connect", errno);
        fds_[static_cast<std::size_t>(next)] = fd;
        epoll_event ev{};
        ev.events = EPOLLOUT;
        ev.data.u64 = static_cast<std::uint64_t>(next);
        if (epoll_ctl(epoll_, EPOLL_CTL_ADD, fd, &ev) != 0) return fail("epoll_ctl", errno);
        ++next;
        ++connecting;
      }
      const int n = epoll_wait(epoll_, events, 512, 100);
      for (int i = 0; i < n; ++i) {
        const auto c = static_cast<std::size_t>(events[i].data.u64);
        if (counted[c]) continue;  // an error or hang-up on a held one: the wake sees it
        counted[c] = true;
        int error = 0;
        socklen_t len = sizeof error;
        getsockopt(fds_[c], SOL_SOCKET, SO_ERROR, &error, &len);
        if (error != 0) return fail("connect", error);
        epoll_event quiet{};  // held: no events until the wake
        quiet.data.u64 = c;
        epoll_ctl(epoll_, EPOLL_CTL_MOD, fds_[c], &quiet);
        --connecting;
        ++connected;
      }
      if (seconds_since(began) > o_.timeout) {
        std::fprintf(stderr, "weft-idle: %ld of %ld connected after %.0f s\n", connected, o_.connections, o_.timeout);
        return false;
      }
    }
    return true;
  }

  // Every connection sends its payload, then every echo is read back and
  // checked.
  bool wake_all() {
    std::vector<int> got(fds_.size(), 0);
    std::vector<char> out(static_cast<std::size_t>(o_.payload));
    for (std::size_t c = 0; c < fds_.size(); ++c) {
      for (int at = 0; at < o_.payload; ++at) out[static_cast<std::size_t>(at)] = pattern(c, at);
      if (::send(fds_[c], out.data(), out.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(out.size()))
        return fail("send", errno);
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.u64 = c;
      epoll_ctl(epoll_, EPOLL_CTL_MOD, fds_[c], &ev);
    }
    std::size_t done = 0;
    epoll_event events[512];
    char in[4096];
    const auto began = Clock::now();
    while (done < fds_.size()) {
      const int n = epoll_wait(epoll_, events, 512, 100);
      for (int i = 0; i < n; ++i) {
        const auto c = static_cast<std::size_t>(events[i].data.u64);
        const ssize_t r = ::recv(fds_[c], in, sizeof in, MSG_DONTWAIT);
        if (r == 0) return fail("recv (the server closed)", 0);
        if (r < 0) {
          if (errno == EAGAIN) continue;
          return fail("recv", errno);
        }
        for (ssize_t k = 0; k < r; ++k) {
          if (got[c] >= o_.payload || in[k] != pattern(c, got[c])) return fail("the echo differs from what was sent", 0);
          ++got[c];
        }
        if (got[c] == o_.payload) {
          ++done;
          epoll_event quiet{};
          quiet.data.u64 = c;
          epoll_ctl(epoll_, EPOLL_CTL_MOD, fds_[c], &quiet);
        }
      }
      if (seconds_since(began) > o_.timeout) {
        std::fprintf(stderr, "weft-idle: %zu of %zu echoes back after %.0f s\n", done, fds_.size(), o_.timeout);
        return false;
      }
    }
    return true;
  }

  bool fail(const char* what, int error) const {
    std::fprintf(stderr, "weft-idle: %s%s%s\n", what, error != 0 ? ": " : "", error != 0 ? std::strerror(error) : "");
    return false;
  }

  Options o_;
  int epoll_ = -1;
  std::vector<int> fds_;
};

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);
  try {
    return Run(o).go();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "weft-idle: %s\n", e.what());
    return 1;
  }
}
