// weft-baseline-uring-echo: a single-threaded TCP echo server written by hand
// on liburing, with no runtime in between.
//
// It is a baseline, not a product: the ceiling that weft's own echo server
// (examples/echo/echo.cc) can approach on one core. It does what an expert
// would do in a plain completion loop and nothing more:
//
//   1. One ring, set up with SINGLE_ISSUER|DEFER_TASKRUN (falling back to
//      COOP_TASKRUN, then to no flags, on kernels that answer EINVAL), its fd
//      registered so io_uring_enter skips the fd lookup.
//   2. One multishot accept on the listening socket, re-armed when the kernel
//      ends it.
//   3. Per connection, exactly one operation in flight: a recv into the
//      connection's buffer, then sends of those bytes (looping on short
//      sends), then the next recv.
//   4. Per loop iteration, one io_uring_submit_and_wait(1), then every ready
//      completion handled with io_uring_for_each_cqe + io_uring_cq_advance.
//   5. A 100 ms timeout re-armed as it fires, so the loop notices --seconds
//      and SIGINT/SIGTERM even when idle.
//
// Deliberately left out, because weft's server does not have them either:
// registered (fixed) files, registered or provided buffers, multishot recv,
// zero-copy send, SQPOLL, and more than one thread. Connections are closed
// with a plain close(2); an accept that fails (say, out of descriptors) is
// re-armed at the next tick rather than handled cleverly.
//
// Uses only what liburing 2.3 (Debian 12) declares.
#define _GNU_SOURCE

#include <arpa/inet.h>
#include <errno.h>
#include <liburing.h>
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
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define PROGRAM "weft-baseline-uring-echo"

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

// Returns a listening socket on host:port and prints "listening on HOST:PORT",
// or prints why and returns -1.
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
  const int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
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

// user_data of the two operations that are not a connection's. A connection's
// operations carry its (malloc-aligned, hence larger) address.
enum { TAG_ACCEPT = 1, TAG_TICK = 2 };

// A connection and its buffer. Exactly one operation is in flight for it at
// any time, so the completion's user_data plus `sending` say which one ended.
struct conn {
  int fd;
  bool sending;       // the operation in flight: a send (true) or a recv (false)
  unsigned len;       // bytes received into buf, being echoed
  unsigned sent;      // of those, bytes already sent back
  struct conn* prev;  // the list of open connections, for shutdown
  struct conn* next;
  char buf[];
};

struct server {
  struct io_uring ring;
  int listen_fd;
  size_t buffer;
  bool multishot_accept;  // false once the kernel said it has no multishot accept
  bool accept_armed;
  struct conn* conns;  // open connections
  struct __kernel_timespec tick;
};

// Returns a free SQE, submitting what is queued if the SQ is full.
static struct io_uring_sqe* get_sqe(struct server* s) {
  struct io_uring_sqe* sqe = io_uring_get_sqe(&s->ring);
  if (sqe == NULL) {
    io_uring_submit(&s->ring);
    sqe = io_uring_get_sqe(&s->ring);
    if (sqe == NULL) {
      fprintf(stderr, PROGRAM ": no free SQE after submitting\n");
      exit(1);
    }
  }
  return sqe;
}

static void arm_accept(struct server* s) {
  struct io_uring_sqe* sqe = get_sqe(s);
  if (s->multishot_accept)
    io_uring_prep_multishot_accept(sqe, s->listen_fd, NULL, NULL, SOCK_CLOEXEC);
  else
    io_uring_prep_accept(sqe, s->listen_fd, NULL, NULL, SOCK_CLOEXEC);
  io_uring_sqe_set_data64(sqe, TAG_ACCEPT);
  s->accept_armed = true;
}

static void arm_tick(struct server* s) {
  struct io_uring_sqe* sqe = get_sqe(s);
  io_uring_prep_timeout(sqe, &s->tick, 0, 0);
  io_uring_sqe_set_data64(sqe, TAG_TICK);
}

static void arm_recv(struct server* s, struct conn* c) {
  struct io_uring_sqe* sqe = get_sqe(s);
  io_uring_prep_recv(sqe, c->fd, c->buf, s->buffer, 0);
  io_uring_sqe_set_data(sqe, c);
  c->sending = false;
}

static void arm_send(struct server* s, struct conn* c) {
  struct io_uring_sqe* sqe = get_sqe(s);
  io_uring_prep_send(sqe, c->fd, c->buf + c->sent, c->len - c->sent, MSG_NOSIGNAL);
  io_uring_sqe_set_data(sqe, c);
  c->sending = true;
}

static void close_conn(struct server* s, struct conn* c) {
  if (c->prev != NULL)
    c->prev->next = c->next;
  else
    s->conns = c->next;
  if (c->next != NULL) c->next->prev = c->prev;
  close(c->fd);
  free(c);
}

static void on_accept(struct server* s, const struct io_uring_cqe* cqe) {
  if (!(cqe->flags & IORING_CQE_F_MORE)) s->accept_armed = false;
  if (cqe->res < 0) {
    if (cqe->res == -EINVAL && s->multishot_accept) {
      s->multishot_accept = false;  // a kernel older than 5.19: accept one at a time
      arm_accept(s);
    } else if (cqe->res != -ECANCELED) {
      // Out of descriptors and the like: try again at the next tick.
      fprintf(stderr, PROGRAM ": accept: %s\n", strerror(-cqe->res));
    }
    return;
  }
  const int fd = cqe->res;
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  struct conn* c = malloc(sizeof *c + s->buffer);
  if (c == NULL) {
    close(fd);
  } else {
    c->fd = fd;
    c->len = c->sent = 0;
    c->prev = NULL;
    c->next = s->conns;
    if (s->conns != NULL) s->conns->prev = c;
    s->conns = c;
    arm_recv(s, c);
  }
  if (!s->accept_armed) arm_accept(s);
}

static void on_conn(struct server* s, struct conn* c, int res) {
  if (res == -EINTR || res == -EAGAIN) {  // not expected on a blocking socket; retry
    if (c->sending)
      arm_send(s, c);
    else
      arm_recv(s, c);
    return;
  }
  if (res <= 0) {  // recv: the peer closed (0) or an error; send: an error
    close_conn(s, c);
    return;
  }
  if (c->sending) {
    c->sent += (unsigned)res;
  } else {
    c->len = (unsigned)res;
    c->sent = 0;
  }
  if (c->sent < c->len)
    arm_send(s, c);
  else
    arm_recv(s, c);
}

// Sets up the ring with the best flags this kernel takes. Returns 0 or -errno.
static int setup_ring(struct io_uring* ring) {
  static const unsigned flag_sets[] = {
      IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,  // 6.1
      IORING_SETUP_COOP_TASKRUN,                                // 5.19
      0,
  };
  int ret = -EINVAL;
  for (size_t i = 0; i < sizeof flag_sets / sizeof flag_sets[0]; ++i) {
    struct io_uring_params p;
    memset(&p, 0, sizeof p);
    p.flags = flag_sets[i] | IORING_SETUP_CQSIZE;
    p.cq_entries = 4096;  // one completion per connection at a time; NODROP covers more
    ret = io_uring_queue_init_params(1024, ring, &p);
    if (ret != -EINVAL) break;
  }
  if (ret == 0) io_uring_register_ring_fd(ring);  // optional: fails harmlessly before 5.18
  return ret;
}

static int serve(const struct options* o) {
  struct server s;
  memset(&s, 0, sizeof s);
  s.buffer = o->buffer;
  s.multishot_accept = true;
  s.tick.tv_nsec = 100 * 1000 * 1000;

  s.listen_fd = listen_on(o->host, o->port);
  if (s.listen_fd < 0) return 1;
  const int ret = setup_ring(&s.ring);
  if (ret < 0) {
    fprintf(stderr, PROGRAM ": io_uring_queue_init_params: %s\n", strerror(-ret));
    close(s.listen_fd);
    return 1;
  }

  const double deadline = o->seconds > 0 ? now_seconds() + o->seconds : 0;
  int status = 0;
  arm_accept(&s);
  arm_tick(&s);
  while (!stop_requested) {
    const int n = io_uring_submit_and_wait(&s.ring, 1);
    if (n < 0 && n != -EINTR && n != -EAGAIN && n != -EBUSY) {
      fprintf(stderr, PROGRAM ": io_uring_submit_and_wait: %s\n", strerror(-n));
      status = 1;
      break;
    }
    bool ticked = false;
    unsigned head, seen = 0;
    struct io_uring_cqe* cqe;
    io_uring_for_each_cqe(&s.ring, head, cqe) {
      ++seen;
      const uint64_t tag = io_uring_cqe_get_data64(cqe);
      if (tag == TAG_ACCEPT)
        on_accept(&s, cqe);
      else if (tag == TAG_TICK)
        ticked = true;
      else
        on_conn(&s, (struct conn*)(uintptr_t)tag, cqe->res);
    }
    io_uring_cq_advance(&s.ring, seen);
    if (ticked) {
      if (deadline > 0 && now_seconds() >= deadline) break;
      if (!s.accept_armed) arm_accept(&s);
      arm_tick(&s);
    }
  }

  // The ring's teardown, which cancels what is in flight, finishes in the
  // background and holds the listening socket until it does; shut it down
  // first so the port is free the moment this returns. Buffers are freed only
  // once the ring, which may still write into them, is gone.
  shutdown(s.listen_fd, SHUT_RDWR);
  io_uring_queue_exit(&s.ring);
  while (s.conns != NULL) close_conn(&s, s.conns);
  close(s.listen_fd);
  return status;
}

int main(int argc, char** argv) {
  const struct options o = parse_options(argc, argv);
  signal(SIGPIPE, SIG_IGN);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_stop_signal;  // no SA_RESTART: a blocked wait returns EINTR
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  return serve(&o);
}
