// weft::os: streams over any descriptor, readiness waits, signals. On both
// backends (CTest's uring and epoll entries), with one and two workers.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <weft/io/signal.h>
#include <weft/io/stream.h>

#include "support/child.h"
#include "support/runtime.h"

using namespace std::chrono_literals;
using weft::os::Signals;
using weft::os::Stream;

namespace {

std::pair<Stream, Stream> make_pipe() { return Stream::pipe().value(); }

// A connected pair of stream sockets (Unix domain), as raw descriptors.
struct SocketPair {
  int a = -1;
  int b = -1;
  SocketPair() {
    int fds[2];
    BOOST_REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0);
    a = fds[0];
    b = fds[1];
  }
  ~SocketPair() {
    ::close(a);
    ::close(b);
  }
};

#if defined(__SANITIZE_THREAD__)
constexpr bool kThreadSanitizer = true;
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
constexpr bool kThreadSanitizer = true;
#else
constexpr bool kThreadSanitizer = false;
#endif
#else
constexpr bool kThreadSanitizer = false;
#endif

// Sends `sig` to the process from a thread of its own, as `kill` from a
// shell would: the kernel picks the thread that runs the handler. Under
// ThreadSanitizer a handler runs only once its thread enters an
// intercepted call, which a worker asleep in io_uring_enter or
// epoll_pwait2 does not: there the sender signals itself (thread-directed,
// which ThreadSanitizer delivers at once), and lingers in case.
void send_from_outside(int sig) {
  std::thread([sig] {
    if (kThreadSanitizer) {
      ::raise(sig);
    } else {
      ::kill(::getpid(), sig);
    }
    ::usleep(20'000);
  }).join();
}

}  // namespace

BOOST_AUTO_TEST_SUITE(streams)

BOOST_AUTO_TEST_CASE(a_pipe_carries_a_megabyte_between_two_fibers) {
  weft::test::run([] {
    auto [r, w] = make_pipe();
    std::vector<char> out(1 << 20);
    for (std::size_t i = 0; i < out.size(); ++i) out[i] = static_cast<char>(i * 7);
    auto writer = weft::spawn([&, &w = w] {
      w.write_all(weft::ConstBuffer(out.data(), out.size())).value();  // parks: the pipe holds 64 KiB
      w.close().value();
    });
    std::vector<char> in(out.size());
    r.read_exact(weft::MutableBuffer(in.data(), in.size())).value();
    writer.join();
    BOOST_TEST(in == out);
    char more = 0;
    BOOST_TEST(r.read(weft::MutableBuffer(&more, 1)).value() == 0u);  // the writer closed
  });
}

BOOST_AUTO_TEST_CASE(a_read_past_the_end_is_end_of_stream) {
  weft::test::run([] {
    auto [r, w] = make_pipe();
    w.write_all(weft::ConstBuffer("ab", 2)).value();
    w.close().value();
    char buf[3];
    auto got = r.read_exact(weft::MutableBuffer(buf, 3));
    BOOST_TEST(!got);
    BOOST_TEST((got.error() == weft::make_error_code(weft::errc::end_of_stream)));
  });
}

BOOST_AUTO_TEST_CASE(writing_to_a_pipe_nobody_reads_is_broken_pipe_not_a_signal) {
  weft::test::run([] {
    auto [r, w] = make_pipe();
    r.close().value();
    auto got = w.write(weft::ConstBuffer("x", 1));
    BOOST_TEST(!got);
    BOOST_TEST((got.error() == std::errc::broken_pipe));
  });
  // The process is still here, and SIGPIPE is not left blocked or pending.
  sigset_t now;
  pthread_sigmask(SIG_BLOCK, nullptr, &now);
  BOOST_TEST(sigismember(&now, SIGPIPE) == 0);
  sigset_t pending;
  sigpending(&pending);
  BOOST_TEST(sigismember(&pending, SIGPIPE) == 0);
}

BOOST_AUTO_TEST_CASE(a_read_that_times_out_or_is_cancelled_loses_nothing) {
  weft::test::run([] {
    auto [r, w] = make_pipe();
    char buf[4];
    auto late = r.read(weft::MutableBuffer(buf, 4), {.deadline = weft::after(20ms)});
    BOOST_TEST(!late);
    BOOST_TEST((late.error() == std::errc::timed_out));
    weft::CancelToken token;
    auto canceller = weft::spawn([&] {
      weft::sleep_for(10ms);
      token.cancel();
    });
    auto stopped = r.read(weft::MutableBuffer(buf, 4), {.cancel = &token});
    canceller.join();
    BOOST_TEST(!stopped);
    BOOST_TEST((stopped.error() == std::errc::operation_canceled));
    // The stream still works, and the next bytes are all there.
    w.write_all(weft::ConstBuffer("wxyz", 4)).value();
    r.read_exact(weft::MutableBuffer(buf, 4)).value();
    BOOST_TEST(std::string(buf, 4) == "wxyz");
  });
}

BOOST_AUTO_TEST_CASE(closing_a_pipe_ends_the_read_waiting_on_it,
                     *weft::test::needs(weft::test::closing_cancels_waits,
                                        "closing cancels waits (epoll, or Linux 5.19 rings)")) {
  weft::test::run([] {
    auto [r, w] = make_pipe();
    std::error_code seen;
    auto reader = weft::spawn([&, &r = r] {
      char c;
      auto got = r.read(weft::MutableBuffer(&c, 1));
      if (!got) seen = got.error();
    });
    weft::sleep_for(10ms);
    r.close().value();
    reader.join();
    BOOST_TEST((seen == std::errc::operation_canceled));
  });
}

BOOST_AUTO_TEST_CASE(an_eventfd_a_character_device_and_a_file_read_as_streams) {
  char path[] = "/tmp/weft-stream-XXXXXX";
  const int tmp = ::mkstemp(path);
  BOOST_REQUIRE(tmp >= 0);
  BOOST_REQUIRE(::write(tmp, "hello, file", 11) == 11);
  ::close(tmp);
  weft::test::run([&] {
    Stream counter(::eventfd(0, EFD_CLOEXEC));
    const std::uint64_t add = 5;
    counter.write_all(weft::ConstBuffer(&add, sizeof add)).value();
    std::uint64_t value = 0;
    counter.read_exact(weft::MutableBuffer(&value, sizeof value)).value();
    BOOST_TEST(value == 5u);

    Stream zero(::open("/dev/zero", O_RDONLY | O_CLOEXEC));
    char z[16];
    std::memset(z, 1, sizeof z);
    zero.read_exact(weft::MutableBuffer(z, sizeof z)).value();
    BOOST_TEST(std::all_of(z, z + sizeof z, [](char c) { return c == 0; }));
    Stream null(::open("/dev/null", O_WRONLY | O_CLOEXEC));
    BOOST_TEST(null.write(weft::ConstBuffer("gone", 4)).value() == 4u);

    // A file, front to back at its own position: two reads continue.
    Stream file(::open(path, O_RDONLY | O_CLOEXEC));
    char a[5];
    char b[6];
    file.read_exact(weft::MutableBuffer(a, 5)).value();
    file.read_exact(weft::MutableBuffer(b, 6)).value();
    BOOST_TEST(std::string(a, 5) == "hello");
    BOOST_TEST(std::string(b, 6) == ", file");
  });
  ::unlink(path);
}

BOOST_AUTO_TEST_CASE(a_closed_stream_says_bad_descriptor) {
  weft::test::run([] {
    auto [r, w] = make_pipe();
    w.close().value();
    BOOST_TEST((w.write(weft::ConstBuffer("x", 1)).error() == std::errc::bad_file_descriptor));
    BOOST_TEST((w.close().error() == std::errc::bad_file_descriptor));
  });
}

BOOST_AUTO_TEST_CASE(standard_streams_are_copies_the_process_keeps) {
  weft::test::run([] {
    Stream err = Stream::standard_error().value();
    BOOST_TEST(err.native_handle() > 2);
    err.close().value();
    BOOST_TEST(::fcntl(STDERR_FILENO, F_GETFD) >= 0);  // still open
  });
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(readiness)

BOOST_AUTO_TEST_CASE(wait_readable_parks_until_another_fiber_writes) {
  SocketPair s;
  weft::test::run([&] {
    auto writer = weft::spawn([&] {
      weft::sleep_for(10ms);
      BOOST_TEST(::send(s.b, "z", 1, MSG_NOSIGNAL) == 1);
    });
    const short events = weft::os::wait_readable(s.a).value();
    writer.join();
    BOOST_TEST((events & POLLIN) != 0);
    char c = 0;
    BOOST_TEST(::recv(s.a, &c, 1, 0) == 1);  // the library reads for itself
    BOOST_TEST(c == 'z');
    // Ready again only once there is more.
    auto quiet = weft::os::wait_readable(s.a, {.deadline = weft::after(20ms)});
    BOOST_TEST((quiet.error() == std::errc::timed_out));
    BOOST_TEST(::send(s.b, "y", 1, MSG_NOSIGNAL) == 1);
    BOOST_TEST((weft::os::wait_readable(s.a).value() & POLLIN) != 0);
  });
}

BOOST_AUTO_TEST_CASE(wait_writable_returns_at_once_for_room_and_reports_a_hang_up) {
  SocketPair s;
  weft::test::run([&] {
    BOOST_TEST((weft::os::wait_writable(s.a).value() & POLLOUT) != 0);
    ::shutdown(s.b, SHUT_RDWR);
    const short events = weft::os::wait_readable(s.a).value();
    BOOST_TEST((events & (POLLHUP | POLLIN)) != 0);  // end of stream reads as readable
  });
}

BOOST_AUTO_TEST_CASE(a_cancelled_readiness_wait_ends_and_a_bad_descriptor_is_an_error) {
  SocketPair s;
  weft::test::run([&] {
    weft::CancelToken token;
    auto canceller = weft::spawn([&] {
      weft::sleep_for(10ms);
      token.cancel();
    });
    auto got = weft::os::wait_readable(s.a, {.cancel = &token});
    canceller.join();
    BOOST_TEST((got.error() == std::errc::operation_canceled));
    BOOST_TEST((weft::os::wait_readable(-1).error() == std::errc::bad_file_descriptor));
    const int gone = ::dup(s.a);
    ::close(gone);
    BOOST_TEST((weft::os::wait_readable(gone).error() == std::errc::bad_file_descriptor));
  });
}

BOOST_AUTO_TEST_CASE(a_regular_file_is_always_ready) {
  char path[] = "/tmp/weft-ready-XXXXXX";
  const int fd = ::mkstemp(path);
  BOOST_REQUIRE(fd >= 0);
  weft::test::run([&] {
    BOOST_TEST((weft::os::wait_readable(fd, {.deadline = weft::after(1s)}).value() & POLLIN) != 0);
    BOOST_TEST((weft::os::wait_writable(fd, {.deadline = weft::after(1s)}).value() & POLLOUT) != 0);
  });
  ::close(fd);
  ::unlink(path);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(signals)

BOOST_AUTO_TEST_CASE(a_fiber_waits_for_a_signal_sent_from_outside) {
  weft::test::run([] {
    Signals watched = Signals::watch({SIGUSR1, SIGTERM}).value();
    auto sender = weft::spawn([] {
      weft::sleep_for(10ms);
      send_from_outside(SIGUSR1);
    });
    BOOST_TEST(watched.wait({.deadline = weft::after(10s)}).value() == SIGUSR1);
    sender.join();
    BOOST_TEST(watched.poll() == 0);
  });
}

BOOST_AUTO_TEST_CASE(signals_come_one_at_a_time_and_none_is_lost) {
  weft::test::run([] {
    Signals watched = Signals::watch({SIGUSR1, SIGUSR2, SIGHUP}).value();
    send_from_outside(SIGUSR2);
    send_from_outside(SIGHUP);
    send_from_outside(SIGUSR1);
    std::vector<int> got;
    for (int i = 0; i < 3; ++i) got.push_back(watched.wait({.deadline = weft::after(10s)}).value());
    BOOST_TEST(got == (std::vector<int>{SIGHUP, SIGUSR1, SIGUSR2}), "lowest number first");
    auto none = watched.wait({.deadline = weft::after(20ms)});
    BOOST_TEST((none.error() == std::errc::timed_out));
  });
}

BOOST_AUTO_TEST_CASE(a_cancelled_wait_ends_and_the_signal_after_it_is_still_counted) {
  weft::test::run([] {
    Signals watched = Signals::watch({SIGUSR1}).value();
    weft::CancelToken token;
    auto canceller = weft::spawn([&] {
      weft::sleep_for(10ms);
      token.cancel();
    });
    BOOST_TEST((watched.wait({.cancel = &token}).error() == std::errc::operation_canceled));
    canceller.join();
    send_from_outside(SIGUSR1);
    BOOST_TEST(watched.wait({.deadline = weft::after(10s)}).value() == SIGUSR1);
  });
}

BOOST_AUTO_TEST_CASE(every_watcher_of_a_signal_gets_it) {
  weft::test::run([] {
    Signals one = Signals::watch({SIGUSR2}).value();
    Signals two = Signals::watch({SIGUSR2, SIGUSR1}).value();
    send_from_outside(SIGUSR2);
    auto first = weft::spawn([&] { return one.wait({.deadline = weft::after(10s)}); });
    weft::Result<int> b = two.wait({.deadline = weft::after(10s)});
    weft::Result<int> a = first.join();
    BOOST_TEST((a && *a == SIGUSR2));
    BOOST_TEST((b && *b == SIGUSR2));
  });
}

BOOST_AUTO_TEST_CASE(a_signal_that_cannot_be_waited_for_is_refused_by_name) {
  auto message = [](std::initializer_list<int> sigs) {
    try {
      (void)Signals::watch(sigs);
    } catch (const std::invalid_argument& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  BOOST_TEST(message({SIGKILL}) == "weft::os::Signals::watch: SIGKILL (9) cannot be caught");
  BOOST_TEST(message({SIGTERM, SIGSTOP}).find("SIGSTOP (19) cannot be caught") != std::string::npos);
  BOOST_TEST(message({SIGSEGV}).find("SIGSEGV (11) is a fault") != std::string::npos);
  BOOST_TEST(message({0}).find("is not a signal number") != std::string::npos);
  BOOST_TEST(message({65}).find("is not a signal number") != std::string::npos);
  BOOST_TEST(message({}) == "weft::os::Signals::watch: no signal given");
  // A refused set installs nothing: SIGTERM kept its handling.
  struct sigaction now {};
  sigaction(SIGTERM, nullptr, &now);
  BOOST_TEST((now.sa_handler == SIG_DFL));
}

BOOST_AUTO_TEST_CASE(when_the_last_watcher_goes_the_old_handling_comes_back) {
  // Default: the process dies of it, once nobody watches.
  const auto died = weft::test::run_in_child([] {
    { auto w = Signals::watch({SIGUSR1}).value(); }
    ::raise(SIGUSR1);
    std::_Exit(0);
  });
  BOOST_TEST(died.signal == SIGUSR1);
  // Ignored before: ignored again after.
  const auto ignored = weft::test::run_in_child([] {
    ::signal(SIGUSR2, SIG_IGN);
    { auto w = Signals::watch({SIGUSR2}).value(); }
    ::raise(SIGUSR2);
    std::_Exit(0);
  });
  BOOST_TEST(ignored.exited);
  BOOST_TEST(ignored.exit_code == 0);
}

BOOST_AUTO_TEST_CASE(a_signal_nobody_watches_keeps_its_default_behaviour) {
  const auto r = weft::test::run_in_child([] {
    weft::Runtime rt(weft::test::options());
    rt.run([] {
      auto w = Signals::watch({SIGUSR1}).value();
      ::kill(::getpid(), SIGUSR2);  // not watched: ends the process
      weft::sleep_for(5s);
    });
    std::_Exit(0);
  });
  BOOST_TEST(r.signal == SIGUSR2);
}

// ThreadSanitizer, in a child forked from a process whose threads it
// tracked (die_after_fork=0), does not always run a handler at all.
BOOST_AUTO_TEST_CASE(sigterm_watched_lets_a_program_stop_on_its_own_terms,
                     *weft::test::needs([] { return !kThreadSanitizer; },
                                        "no ThreadSanitizer (signals in a forked child)")) {
  const auto r = weft::test::run_in_child([] {
    weft::Runtime rt(weft::test::options());
    const int got = rt.run([] {
      auto w = Signals::watch({SIGTERM}).value();
      send_from_outside(SIGTERM);
      return w.wait({.deadline = weft::after(10s)}).value();
    });
    std::_Exit(got == SIGTERM ? 7 : 1);
  });
  BOOST_TEST(r.exited);
  BOOST_TEST(r.exit_code == 7, r.err);
}

BOOST_AUTO_TEST_CASE(names) {
  char buf[24];
  BOOST_TEST(std::string(Signals::name(SIGTERM, buf)) == "SIGTERM");
  BOOST_TEST(std::string(Signals::name(SIGRTMIN + 3, buf)) == "SIGRTMIN+3");
}

BOOST_AUTO_TEST_SUITE_END()
