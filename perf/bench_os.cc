// weft-bench-os: what the operating-system surface costs per call, each
// beside the plain system call (or the nearest other way) in one run.
//
//   stat, mkdir+rmdir, read_file   fs:: calls against the syscalls made
//                                  from the fiber directly (which block the
//                                  worker: the price of not blocking it)
//   stat of a missing path         the error path, which names the path
//   pipe, Unix and TCP round trips Stream, UnixStream and TcpStream
//                                  ping-pong between two fibers, and a pipe
//                                  driven by wait_readable + read(2), as a
//                                  third-party library's descriptor would be
//   signal                         kill(2) of the process to Signals::wait
//                                  returning in a fiber
//   process                        start /bin/true and wait for it, with
//                                  IORING_OP_WAITID and with a pidfd poll
//   resolve                        resolve("localhost") on the pool
//   graceful stop                  GracefulStop::begin_work + its end, the
//                                  per-request price of a graceful stop
//
// Each figure is the median of --repeats runs of --iterations calls. One
// worker by default, so the figures are per call, not per core. The plain
// syscall loops block the worker on purpose: the monitor may report the
// main fiber as a hog while they run.
//
//   weft-bench-os [--iterations N] [--repeats R] [--backend uring|epoll] [--workers W]
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include <weft/weft.h>

#include "perf/common/bench.h"
#include "perf/common/runtime_options.h"
#include "perf/common/usage.h"

namespace {

constexpr const char* kUsage =
    "usage: weft-bench-os [--iterations N] [--repeats R] [--backend uring|epoll] [--workers W]\n"
    "  --iterations  calls per timed run (2000; processes and resolves: a tenth)\n"
    "  --repeats     timed runs per figure; the median is printed (5)\n"
    "  --backend     uring or epoll (WEFT_BACKEND, else io_uring with epoll fallback)\n"
    "  --workers     worker threads (1)\n"
    "the OS surface's cost per call beside the plain syscall; prints key=value lines\n";

using weft::perf::kv;

long g_repeats = 5;
bool g_failed = false;

// Median ns per call of `body`, which makes `n` calls and says whether they
// all worked.
double per_call_ns(long n, const std::function<bool(long)>& body) {
  std::vector<double> runs;
  for (long r = 0; r < g_repeats; ++r) {
    const std::uint64_t start = weft::perf::now_ns();
    if (!body(n)) {
      g_failed = true;
      return 0;
    }
    runs.push_back(static_cast<double>(weft::perf::now_ns() - start) / static_cast<double>(n));
  }
  return weft::perf::median(runs);
}

void ratio(const char* key, double a, double b) {
  if (b > 0) kv(key, a / b);
}

// "<what>_ns", "<what>_syscall_ns" and their ratio "<what>_over_syscall".
void beside_syscall(const std::string& what, double weft_ns, double syscall_ns) {
  kv((what + "_ns").c_str(), weft_ns, "%.0f");
  kv((what + "_syscall_ns").c_str(), syscall_ns, "%.0f");
  ratio((what + "_over_syscall").c_str(), weft_ns, syscall_ns);
}

// Round trips of one byte between this fiber and an echoing one, over any
// pair of endpoints with read/write_all.
template <class End>
bool ping_pong(End& mine, End& theirs, long n) {
  auto echo = weft::spawn([&theirs, n] {
    char b = 0;
    for (long i = 0; i < n; ++i) {
      if (!theirs.read(weft::MutableBuffer(&b, 1)) || !theirs.write_all(weft::ConstBuffer(&b, 1))) return false;
    }
    return true;
  });
  bool ok = true;
  char b = 'x';
  for (long i = 0; i < n && ok; ++i) {
    ok = mine.write_all(weft::ConstBuffer(&b, 1)) && mine.read(weft::MutableBuffer(&b, 1)).value_or(0) == 1;
  }
  return echo.join() && ok;
}

void measure_files(long n, const std::string& dir) {
  const std::string file = dir + "/f";
  const std::string missing = dir + "/missing";
  const std::string sub = dir + "/d";
  if (!weft::fs::write_file(file, std::string(4096, 'f'))) g_failed = true;
  struct statx sx {};
  const double stat_ns = per_call_ns(n, [&](long k) {
    for (long i = 0; i < k; ++i)
      if (!weft::fs::stat(file)) return false;
    return true;
  });
  const double stat_sys_ns = per_call_ns(n, [&](long k) {
    for (long i = 0; i < k; ++i)
      if (::statx(AT_FDCWD, file.c_str(), 0, STATX_BASIC_STATS, &sx) != 0) return false;
    return true;
  });
  const double missing_ns = per_call_ns(n, [&](long k) {
    for (long i = 0; i < k; ++i)
      if (weft::fs::stat(missing).error().context().empty()) return false;
    return true;
  });
  const double missing_sys_ns = per_call_ns(n, [&](long k) {
    for (long i = 0; i < k; ++i)
      if (::statx(AT_FDCWD, missing.c_str(), 0, STATX_BASIC_STATS, &sx) == 0) return false;
    return true;
  });
  const double mkdir_ns = per_call_ns(n, [&](long k) {
    for (long i = 0; i < k; ++i)
      if (!weft::fs::create_directory(sub) || !weft::fs::remove_directory(sub)) return false;
    return true;
  });
  const double mkdir_sys_ns = per_call_ns(n, [&](long k) {
    for (long i = 0; i < k; ++i)
      if (::mkdir(sub.c_str(), 0755) != 0 || ::rmdir(sub.c_str()) != 0) return false;
    return true;
  });
  const double read_ns = per_call_ns(n, [&](long k) {
    for (long i = 0; i < k; ++i)
      if (weft::fs::read_file(file).value_or("").size() != 4096) return false;
    return true;
  });
  const double read_sys_ns = per_call_ns(n, [&](long k) {
    char buf[8192];
    for (long i = 0; i < k; ++i) {
      const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0) return false;
      const ssize_t got = ::read(fd, buf, sizeof buf);
      ::close(fd);
      if (got != 4096) return false;
    }
    return true;
  });
  beside_syscall("stat", stat_ns, stat_sys_ns);
  beside_syscall("stat_missing", missing_ns, missing_sys_ns);
  beside_syscall("mkdir_rmdir", mkdir_ns, mkdir_sys_ns);
  beside_syscall("read_file_4k", read_ns, read_sys_ns);
  (void)weft::fs::remove(file);
}

void measure_streams(long n, const std::string& dir) {
  auto pipes_a = weft::os::Stream::pipe().value();  // here -> echo
  auto pipes_b = weft::os::Stream::pipe().value();  // echo -> here
  // One endpoint per side that reads one pipe and writes the other.
  struct PipeEnd {
    weft::os::Stream* in;
    weft::os::Stream* out;
    weft::Result<std::size_t> read(weft::MutableBuffer b) { return in->read(b); }
    weft::Result<void> write_all(weft::ConstBuffer b) { return out->write_all(b); }
  };
  PipeEnd here{&pipes_b.first, &pipes_a.second};
  PipeEnd there{&pipes_a.first, &pipes_b.second};
  const double pipe_ns = per_call_ns(n, [&](long k) { return ping_pong(here, there, k); });
  // The same pipes, the reading side driven as a library's descriptor:
  // wait_readable, then read(2) itself.
  struct ReadyEnd {
    PipeEnd end;
    weft::Result<std::size_t> read(weft::MutableBuffer b) {
      for (;;) {
        const ssize_t got = ::read(end.in->native_handle(), b.data, b.size);
        if (got >= 0) return static_cast<std::size_t>(got);
        if (errno != EAGAIN) return weft::errno_error(errno);
        if (auto r = weft::os::wait_readable(end.in->native_handle()); !r) return r.error();
      }
    }
    weft::Result<void> write_all(weft::ConstBuffer b) { return end.write_all(b); }
  };
  (void)::fcntl(pipes_b.first.native_handle(), F_SETFL, ::fcntl(pipes_b.first.native_handle(), F_GETFL) | O_NONBLOCK);
  (void)::fcntl(pipes_a.first.native_handle(), F_SETFL, ::fcntl(pipes_a.first.native_handle(), F_GETFL) | O_NONBLOCK);
  ReadyEnd ready_here{here};
  ReadyEnd ready_there{there};
  const double ready_ns = per_call_ns(n, [&](long k) { return ping_pong(ready_here, ready_there, k); });

  auto unix_pair = weft::net::UnixStream::pair().value();
  const double unix_ns = per_call_ns(n, [&](long k) { return ping_pong(unix_pair.first, unix_pair.second, k); });

  const std::string sock = dir + "/s";
  auto unix_listener = weft::net::UnixListener::bind(weft::net::Address::unix_path(sock).value()).value();
  auto unix_client = weft::net::UnixStream::connect(unix_listener.local_address().value()).value();
  auto unix_server = unix_listener.accept().value();
  const double unix_path_ns = per_call_ns(n, [&](long k) { return ping_pong(unix_client, unix_server, k); });

  auto listener = weft::net::TcpListener::bind({"127.0.0.1", 0}).value();
  auto client = weft::net::TcpStream::connect(listener.local_address().value()).value();
  auto server = listener.accept().value();
  const double tcp_ns = per_call_ns(n, [&](long k) { return ping_pong(client, server, k); });

  kv("pipe_round_trip_ns", pipe_ns, "%.0f");
  kv("pipe_wait_readable_round_trip_ns", ready_ns, "%.0f");
  kv("unix_pair_round_trip_ns", unix_ns, "%.0f");
  kv("unix_path_round_trip_ns", unix_path_ns, "%.0f");
  kv("tcp_round_trip_ns", tcp_ns, "%.0f");
  ratio("unix_over_tcp", unix_path_ns, tcp_ns);
  ratio("pipe_over_tcp", pipe_ns, tcp_ns);
  ratio("wait_readable_over_stream", ready_ns, pipe_ns);
}

void measure_signals(long n) {
  auto signals = weft::os::Signals::watch({SIGUSR1}).value();
  const double signal_ns = per_call_ns(n, [&](long k) {
    for (long i = 0; i < k; ++i) {
      if (::kill(::getpid(), SIGUSR1) != 0) return false;
      if (signals.wait().value_or(0) != SIGUSR1) return false;
    }
    return true;
  });
  kv("signal_kill_to_wait_ns", signal_ns, "%.0f");
}

double process_ns(long n) {
  return per_call_ns(n, [](long k) {
    for (long i = 0; i < k; ++i) {
      auto p = weft::os::Process::start(weft::os::Command{.program = "true"});
      if (!p || !p->wait().value_or(weft::os::ExitStatus{}).success()) return false;
    }
    return true;
  });
}

}  // namespace

int main(int argc, char** argv) {
  weft::perf::exit_if_help(argc, argv, kUsage);
  const long n = weft::perf::option(argc, argv, "--iterations", 2000);
  g_repeats = weft::perf::option(argc, argv, "--repeats", 5);
  if (n < 10 || g_repeats < 1) weft::perf::bad_usage("weft-bench-os", "--iterations must be >= 10, --repeats >= 1", kUsage);
  weft::RuntimeOptions options = weft::perf::runtime_options(argc, argv, "weft-bench-os");
  if (options.workers == 0) options.workers = 1;
  char dir_template[] = "/tmp/weft-bench-os-XXXXXX";
  const char* made = ::mkdtemp(dir_template);
  if (made == nullptr) return 1;
  const std::string dir = made;

  double waitid_ns = 0;
  {
    weft::Runtime rt(options);
    rt.run([&] {
      std::printf("backend=%s workers=%zu iterations=%ld repeats=%ld\n", rt.backend_name(), rt.workers(), n,
                  g_repeats);
      std::printf("waitid=%s\n", rt.features().waitid ? "yes" : "no");
      kv("sizeof_error", sizeof(weft::Error), "%.0f");
      kv("sizeof_result_size_t", sizeof(weft::Result<std::size_t>), "%.0f");
      kv("sizeof_result_void", sizeof(weft::Result<void>), "%.0f");
      measure_files(n, dir);
      measure_streams(n, dir);
      measure_signals(n);
      waitid_ns = process_ns(n / 10);
      const double resolve_ns = per_call_ns(n / 10, [](long k) {
        for (long i = 0; i < k; ++i)
          if (weft::net::resolve("localhost", 80).value_or(std::vector<weft::net::Address>{}).empty()) return false;
        return true;
      });
      kv("resolve_localhost_ns", resolve_ns, "%.0f");
      weft::GracefulStop stop;
      const double work_ns = per_call_ns(n * 100, [&](long k) {
        for (long i = 0; i < k; ++i) {
          auto work = stop.begin_work();
          if (stop.stop_begun()) return false;
        }
        return true;
      });
      kv("graceful_begin_end_work_ns", work_ns, "%.1f");
    });
  }
  {
    weft::RuntimeOptions poll_options = options;
    poll_options.waitid = false;
    weft::Runtime rt(poll_options);
    rt.run([&] {
      const double poll_ns = process_ns(n / 10);
      kv("process_start_wait_ns", waitid_ns, "%.0f");
      kv("process_start_wait_pidfd_poll_ns", poll_ns, "%.0f");
      ratio("process_waitid_over_poll", waitid_ns, poll_ns);
    });
  }
  (void)::rmdir(dir.c_str());
  if (g_failed) {
    std::fprintf(stderr, "weft-bench-os: a measurement failed\n");
    return 1;
  }
  return 0;
}
