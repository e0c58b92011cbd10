// weft-baseline-epoll-echo: a single-threaded TCP echo server written by hand
// on epoll, with no runtime in between.
//
// It is a baseline, not a product: the ceiling that a readiness-based runtime
// (weft's planned epoll backend, or any reactor) can approach on one core, and
// the reference point for weft's io_uring echo server. It does what an expert
// would do in a plain readiness loop and nothing more:
//
//   1. A non-blocking listening socket, registered level-triggered; on
//      EPOLLIN, accept4 until EAGAIN.
//   2. Each connection registered edge-triggered for EPOLLIN|EPOLLRDHUP.
//   3. On readiness, read until EAGAIN, writing each chunk straight back. If a
//      write would block, the unsent bytes stay in the connection's buffer,
//      reading stops, and the registration gains EPOLLOUT until they are sent;
//      then reading resumes (the edge was consumed, so it must).
//   4. Close on EOF or any error.
//   5. epoll_wait with a timeout of at most 100 ms, so the loop notices
//      --seconds and SIGINT/SIGTERM even when idle.
//
// Deliberately left out: more than one thread (SO_REUSEPORT, one loop per
// core), EPOLLEXCLUSIVE, busy polling, writev batching, and any timer or idle
// handling per connection. When accept4 runs out of descriptors the listener
// stays readable, so the loop retries it at every wake-up.
#define _GNU_SOURCE

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define PROGRAM "weft-baseline-epoll-echo"

// ---- options ---------------------------------------------------------------

struct options {
  const char* host;
  int port;
  double seconds;  // 0 = until SIGINT/SIGTERM
  size_t buffer;   // bytes per connection
};

static void usage(FILE* out) {
  fprintf(out, "usage: " PROGRAM
               " [--host A] [--port P] [--seconds S] [--buffer BYTES]\n"
               "  --host A        address to listen on (default 127.0.0.1)\n"
               "  --port P        TCP port, 0 for any (default 7878)\n"
               "  --seconds S     stop after S seconds; 0 = until SIGINT/SIGTERM (default 0)\n"
               "  --buffer BYTES  receive buffer per connection (default 16384)\n");
}

// Prints what is wrong and the usage, and exits 2.
__attribute__((format(printf, 1, 2), noreturn)) static void bad_usage(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs(PROGRAM ": ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  usage(stderr);
  exit(2);
}

static long parse_long(const char* s, long lo, long hi, const char* what) {
  char* end = NULL;
  errno = 0;
  const long v = strtol(s, &end, 10);
  if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi)
    bad_usage("%s, not '%s'", what, s);
  return v;
}

static struct options parse_options(int argc, char** argv) {
  struct options o = {.host = "127.0.0.1", .port = 7878, .seconds = 0, .buffer = 16384};
  for (int i = 1; i < argc; ++i) {
    const char* a = argv[i];
    if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
      usage(stdout);
      exit(0);
    }
    if (strcmp(a, "--host") != 0 && strcmp(a, "--port") != 0 && strcmp(a, "--seconds") != 0 &&
        strcmp(a, "--buffer") != 0)
      bad_usage("unknown option '%s'", a);
    if (i + 1 >= argc) bad_usage("missing value after %s", a);
    const char* v = argv[++i];
    if (strcmp(a, "--host") == 0) {
      o.host = v;
    } else if (strcmp(a, "--port") == 0) {
      o.port = (int)parse_long(v, 0, 65535, "--port must be 0..65535");
    } else if (strcmp(a, "--buffer") == 0) {
      o.buffer = (size_t)parse_long(v, 1, 64L << 20, "--buffer must be 1 byte to 64 MiB");
    } else {  // --seconds
      char* end = NULL;
      errno = 0;
      o.seconds = strtod(v, &end);
      if (errno != 0 || end == v || *end != '\0' || !isfinite(o.seconds) || o.seconds < 0)
        bad_usage("--seconds must be a number, 0 or more, not '%s'", v);
    }
  }
  return o;
}

// ---- listening socket ------------------------------------------------------

// Returns a non-blocking listening socket on host:port and prints "listening
// on HOST:PORT", or prints why and returns -1.
static int listen_on(const char* host, int port) {
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof ss);
  socklen_t len;
  struct sockaddr_in* v4 = (struct sockaddr_in*)&ss;
  struct sockaddr_in6* v6 = (struct sockaddr_in6*)&ss;
  if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons((uint16_t)port);
    len = sizeof *v4;
  } else if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons((uint16_t)port);
    len = sizeof *v6;
  } else {
    fprintf(stderr, PROGRAM ": --host must be an IPv4 or IPv6 address, not '%s'\n", host);
    return -1;
  }
  const int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    perror(PROGRAM ": socket");
    return -1;
  }
  const int one = 1;
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
      bind(fd, (struct sockaddr*)&ss, len) < 0 || listen(fd, SOMAXCONN) < 0 ||
      getsockname(fd, (struct sockaddr*)&ss, &len) < 0) {
    fprintf(stderr, PROGRAM ": cannot listen on %s:%d: %s\n", host, port, strerror(errno));
    close(fd);
    return -1;
  }
  char name[INET6_ADDRSTRLEN];
  if (ss.ss_family == AF_INET) {
    inet_ntop(AF_INET, &v4->sin_addr, name, sizeof name);
    fprintf(stderr, "listening on %s:%d\n", name, ntohs(v4->sin_port));
  } else {
    inet_ntop(AF_INET6, &v6->sin6_addr, name, sizeof name);
    fprintf(stderr, "listening on [%s]:%d\n", name, ntohs(v6->sin6_port));
  }
  return fd;
}

// ---- stopping --------------------------------------------------------------

static volatile sig_atomic_t stop_requested = 0;

static void on_stop_signal(int sig) {
  (void)sig;
  stop_requested = 1;
}

static double now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

// ---- the server ------------------------------------------------------------

// A connection and its buffer. `pending` bytes from `buf + sent` are waiting
// for the socket to become writable; while there are any, the connection is
// registered for EPOLLOUT too and is not read.
struct conn {
  int fd;
  size_t sent;        // bytes of buf already written back
  size_t pending;     // bytes of buf after those still to write
  struct conn* prev;  // the list of open connections, for shutdown
  struct conn* next;
  char buf[];
};

struct server {
  int epoll_fd;
  int listen_fd;
  size_t buffer;
  struct conn* conns;  // open connections
};

static void close_conn(struct server* s, struct conn* c) {
  if (c->prev != NULL)
    c->prev->next = c->next;
  else
    s->conns = c->next;
  if (c->next != NULL) c->next->prev = c->prev;
  close(c->fd);  // also removes it from the epoll set
  free(c);
}

// Changes what the connection waits for. Returns false on failure.
static bool watch(struct server* s, struct conn* c, uint32_t events) {
  struct epoll_event ev = {.events = events | EPOLLET, .data.ptr = c};
  return epoll_ctl(s->epoll_fd, EPOLL_CTL_MOD, c->fd, &ev) == 0;
}

static void on_listener(struct server* s) {
  for (;;) {
    const int fd = accept4(s->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) perror(PROGRAM ": accept4");
      return;
    }
    const int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct conn* c = malloc(sizeof *c + s->buffer);
    if (c == NULL) {
      close(fd);
      continue;
    }
    c->fd = fd;
    c->sent = c->pending = 0;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP | EPOLLET, .data.ptr = c};
    if (epoll_ctl(s->epoll_fd, EPOLL_CTL_ADD, fd, &ev) < 0) {
      perror(PROGRAM ": epoll_ctl");
      close(fd);
      free(c);
      continue;
    }
    c->prev = NULL;
    c->next = s->conns;
    if (s->conns != NULL) s->conns->prev = c;
    s->conns = c;
  }
}

// Writes the pending bytes. Returns 1 when all are sent, 0 when the socket
// would block (the rest stays pending), -1 on an error.
static int flush(struct conn* c) {
  while (c->pending > 0) {
    const ssize_t n = send(c->fd, c->buf + c->sent, c->pending, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
    }
    c->sent += (size_t)n;
    c->pending -= (size_t)n;
  }
  return 1;
}

static void on_conn(struct server* s, struct conn* c, uint32_t events) {
  if (events & EPOLLERR) {
    close_conn(s, c);
    return;
  }
  if (c->pending > 0) {  // woken by EPOLLOUT (or anything else) while blocked on a write
    const int r = flush(c);
    if (r < 0) {
      close_conn(s, c);
      return;
    }
    if (r == 0) return;  // still blocked: wait for the next EPOLLOUT
    if (!watch(s, c, EPOLLIN | EPOLLRDHUP)) {
      close_conn(s, c);
      return;
    }
  }
  // Edge-triggered: read until the socket says EAGAIN, or the edge is lost.
  for (;;) {
    const ssize_t n = recv(c->fd, c->buf, s->buffer, 0);
    if (n > 0) {
      c->sent = 0;
      c->pending = (size_t)n;
      const int r = flush(c);
      if (r < 0) break;
      if (r == 0) {  // the peer is not reading: stop reading too until it does
        if (!watch(s, c, EPOLLIN | EPOLLOUT | EPOLLRDHUP)) break;
        return;
      }
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    break;  // 0: the peer closed; or an error
  }
  close_conn(s, c);
}

static int serve(const struct options* o) {
  struct server s;
  memset(&s, 0, sizeof s);
  s.buffer = o->buffer;
  s.listen_fd = listen_on(o->host, o->port);
  if (s.listen_fd < 0) return 1;
  s.epoll_fd = epoll_create1(EPOLL_CLOEXEC);
  struct epoll_event lev = {.events = EPOLLIN, .data.ptr = NULL};  // NULL: the listener
  if (s.epoll_fd < 0 || epoll_ctl(s.epoll_fd, EPOLL_CTL_ADD, s.listen_fd, &lev) < 0) {
    perror(PROGRAM ": epoll");
    close(s.listen_fd);
    return 1;
  }

  const double deadline = o->seconds > 0 ? now_seconds() + o->seconds : 0;
  int status = 0;
  struct epoll_event events[256];
  while (!stop_requested) {
    int timeout_ms = 100;
    if (deadline > 0) {
      const double left = deadline - now_seconds();
      if (left <= 0) break;
      if (left < 0.1) timeout_ms = (int)(left * 1000) + 1;
    }
    const int n = epoll_wait(s.epoll_fd, events, sizeof events / sizeof events[0], timeout_ms);
    if (n < 0) {
      if (errno == EINTR) continue;
      perror(PROGRAM ": epoll_wait");
      status = 1;
      break;
    }
    for (int i = 0; i < n; ++i) {
      if (events[i].data.ptr == NULL)
        on_listener(&s);
      else
        on_conn(&s, events[i].data.ptr, events[i].events);
    }
  }

  while (s.conns != NULL) close_conn(&s, s.conns);
  close(s.epoll_fd);
  close(s.listen_fd);
  return status;
}

int main(int argc, char** argv) {
  const struct options o = parse_options(argc, argv);
  signal(SIGPIPE, SIG_IGN);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_stop_signal;  // epoll_wait returns EINTR; the flag ends the loop
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  return serve(&o);
}
