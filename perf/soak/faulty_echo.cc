// weft-soak-faulty-echo: an echo server that can be told to be wrong, so
// that weft-soak is seen to catch each kind of wrong (detect_check.sh).
// Plain epoll, one thread, no weft. Without a fault option it is a correct
// echo server, and a soak against it must pass.
//
//   weft-soak-faulty-echo --port 0 --corrupt-every 5   # every 5th connection: one byte flipped
//
// Each fault hits every K-th connection it accepts (K = the option's
// value; 0: never), at stream offset 1000 of that connection:
//   --corrupt-every K  the byte there is flipped
//   --drop-every K     the byte there is dropped
//   --hold-every K     the connection is never closed, even after the
//                      client's FIN (a leaked descriptor)
//   --grow-kib N       every connection also allocates N KiB, touched and
//                      never freed (memory that grows with the run)
// Prints 'listening on 127.0.0.1:PORT' on stdout; runs until killed.
//
// Thread rules: one thread.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "perf/common/usage.h"

namespace {

constexpr const char* kUsage =
    "usage: weft-soak-faulty-echo [--port P] [--corrupt-every K] [--drop-every K]\n"
    "                             [--hold-every K] [--grow-kib N]\n"
    "an echo server that is wrong on purpose, on every K-th connection (0: never):\n"
    "  --corrupt-every K  flips the byte at stream offset 1000\n"
    "  --drop-every K     drops the byte at stream offset 1000\n"
    "  --hold-every K     never closes the connection (a leaked descriptor)\n"
    "  --grow-kib N       every connection allocates N KiB, never freed\n"
    "prints 'listening on 127.0.0.1:PORT' and runs until killed\n";

constexpr std::uint64_t kFaultAt = 1000;

struct Options {
  int port = 0;
  long corrupt_every = 0, drop_every = 0, hold_every = 0, grow_kib = 0;
};

struct Conn {
  std::uint64_t offset = 0;  // stream bytes read so far
  std::string out;           // to echo
  bool corrupt = false, drop = false, hold = false;
  bool eof = false;
};

long number(const char* option, const char* text) {
  char* end = nullptr;
  const long v = std::strtol(text, &end, 10);
  if (*text == '\0' || *end != '\0' || v < 0) {
    weft::perf::bad_usage("weft-soak-faulty-echo", std::string(option) + " wants a number from 0",
                          kUsage);
  }
  return v;
}

Options parse(int argc, char** argv) {
  weft::perf::exit_if_help(argc, argv, kUsage);
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 >= argc)
      weft::perf::bad_usage("weft-soak-faulty-echo", "missing value after " + a, kUsage);
    const char* v = argv[++i];
    if (a == "--port") {
      o.port = static_cast<int>(number("--port", v));
    } else if (a == "--corrupt-every") {
      o.corrupt_every = number("--corrupt-every", v);
    } else if (a == "--drop-every") {
      o.drop_every = number("--drop-every", v);
    } else if (a == "--hold-every") {
      o.hold_every = number("--hold-every", v);
    } else if (a == "--grow-kib") {
      o.grow_kib = number("--grow-kib", v);
    } else {
      weft::perf::bad_usage("weft-soak-faulty-echo", "unknown option " + a, kUsage);
    }
  }
  return o;
}

bool every(long k, unsigned long n) { return k > 0 && n % static_cast<unsigned long>(k) == 0; }

// Reads what is there, echoes what it can; false when the connection is
// done with (closed, or held open for good).
bool serve(int fd, Conn& c) {
  char buf[65536];
  for (;;) {
    const ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n > 0) {
      for (ssize_t i = 0; i < n; ++i, ++c.offset) {
        char b = buf[i];
        if (c.offset == kFaultAt && c.drop) continue;
        if (c.offset == kFaultAt && c.corrupt) b = static_cast<char>(b ^ 0x20);
        c.out.push_back(b);
      }
      continue;
    }
    if (n == 0) c.eof = true;
    if (n < 0 && errno != EAGAIN && errno != EINTR) return false;
    break;
  }
  while (!c.out.empty()) {
    const ssize_t n = send(fd, c.out.data(), c.out.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) break;
    if (n <= 0) return false;
    c.out.erase(0, static_cast<std::size_t>(n));
  }
  return !(c.eof && c.out.empty());
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);
  const int listener = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  const int one = 1;
  setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(o.port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (bind(listener, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      listen(listener, 4096) != 0 ||
      getsockname(listener, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    std::fprintf(stderr, "weft-soak-faulty-echo: cannot listen: %s\n", std::strerror(errno));
    return 1;
  }
  const int ep = epoll_create1(EPOLL_CLOEXEC);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = listener;
  epoll_ctl(ep, EPOLL_CTL_ADD, listener, &ev);
  std::printf("listening on 127.0.0.1:%u\n", ntohs(a.sin_port));
  std::fflush(stdout);
  std::unordered_map<int, Conn> conns;
  std::vector<std::unique_ptr<char[]>> grown;
  unsigned long accepted = 0;
  for (;;) {
    epoll_event events[256];
    const int n = epoll_wait(ep, events, 256, -1);
    for (int k = 0; k < n; ++k) {
      const int fd = events[k].data.fd;
      if (fd == listener) {
        for (;;) {
          const int c = accept4(listener, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
          if (c < 0) break;
          ++accepted;
          Conn& conn = conns[c];
          conn = Conn{};
          conn.corrupt = every(o.corrupt_every, accepted);
          conn.drop = every(o.drop_every, accepted);
          conn.hold = every(o.hold_every, accepted);
          if (o.grow_kib > 0) {
            const std::size_t bytes = static_cast<std::size_t>(o.grow_kib) << 10;
            grown.emplace_back(new char[bytes]);
            std::memset(grown.back().get(), 1, bytes);
          }
          epoll_event cev{};
          cev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
          cev.data.fd = c;
          epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev);
        }
        continue;
      }
      auto it = conns.find(fd);
      if (it == conns.end()) continue;
      if (serve(fd, it->second)) continue;
      if (it->second.hold) {
        epoll_ctl(ep, EPOLL_CTL_DEL, fd, nullptr);  // forgotten, never closed
      } else {
        close(fd);
      }
      conns.erase(it);
    }
  }
}
