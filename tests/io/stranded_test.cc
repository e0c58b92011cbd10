// What waits on a worker that computes without yielding is served by the
// other worker, whatever woke it: a timer (a sleep, a wait's deadline, an
// operation's deadline), a plain thread, a completion of an operation a
// cancel token watches (an accept as weft::http::serve makes it, a read),
// or a cancel asked from another thread; and the same beside a fiber that
// blocks its worker's thread in a system call instead of computing. Each test parks a fiber on
// the worker that then computes for 600 ms, and checks that the fiber
// finished well before the computation did. While the fiber starts, a blocker
// keeps the other worker busy so that it parks on the hog's worker; should
// the scheduler still place it elsewhere, the scenario is retried. Runs
// on both backends (CTest), always with two workers.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <boost/test/unit_test.hpp>
#include <thread>

#include "support/net.h"
#include "support/runtime.h"

using namespace std::chrono_literals;
using weft::Clock;

namespace {

using weft::test::spin_for;

struct Outcome {
  bool placed = false;   // the waiter parked on the hog's worker
  bool ok = false;       // it ended the way the test expects
  bool in_time = false;  // before the hog did
};

// Runs on the main fiber of a two-worker runtime. Spawns `waiter` (it parks
// on something and returns whether it ended as expected) and yields, so that
// it parks; if it parked on this worker, this fiber becomes the hog there
// for `spin`. `cause` runs on a plain thread started just before the hog (it
// makes the awaited thing happen). Retries until placed, 20 times at most.
// `hog` stands for the computing: spin_for(spin) by default; a test passes
// a call that blocks the worker's thread in the kernel instead.
template <class Waiter, class Cause, class Hog>
Outcome beside(Waiter waiter, Cause cause, Hog hog) {
  Outcome out;
  for (int attempt = 0; attempt < 20 && !out.placed; ++attempt) {
    std::atomic<std::size_t> parked_on{SIZE_MAX};
    std::atomic<Clock::rep> done_at{0};
    // The other worker is kept busy while the waiter starts and parks, so
    // that it parks here.
    weft::test::OtherWorkerBusy blocker;
    auto h = weft::spawn([&] {
      parked_on.store(weft::this_fiber::worker());
      const bool ok = waiter();
      done_at.store(Clock::now().time_since_epoch().count());
      return ok;
    });
    weft::yield();  // the waiter runs and parks
    const bool here = parked_on.load() == weft::this_fiber::worker() && done_at.load() == 0;
    blocker.release();
    std::thread helper([&] { cause(); });
    Clock::rep spin_end = 0;
    if (here) {
      hog();
      spin_end = Clock::now().time_since_epoch().count();
    }
    helper.join();
    blocker.join();
    const bool ok = h.join();
    if (!here) continue;
    out.placed = true;
    out.ok = ok;
    out.in_time = done_at.load() != 0 && done_at.load() < spin_end;
  }
  return out;
}

template <class Waiter, class Cause>
Outcome beside_a_hog(Waiter waiter, Cause cause, Clock::duration spin = 600ms) {
  return beside(waiter, cause, [spin] { spin_for(spin); });
}

void check(const Outcome& o) {
  BOOST_TEST(o.placed, "never got the waiter and the hog onto one worker");
  if (!o.placed) return;
  BOOST_TEST(o.ok);
  BOOST_TEST(o.in_time, "the waiter resumed only after the hog ended");
}


// beside_a_hog for a read on one end of a socket pair: `read` runs on the
// waiter with that end and a small buffer, `cause` on the plain thread with
// the descriptor of the other end.
template <class Read, class Cause>
Outcome read_beside_a_hog(Read read, Cause cause) {
  Outcome o;
  weft::test::run(
      [&] {
        int sv[2];
        BOOST_REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
        weft::net::TcpStream reader(sv[0]);
        o = beside_a_hog(
            [&] {
              char buf[8];
              return read(reader, weft::MutableBuffer(buf, sizeof buf));
            },
            [&] { cause(sv[1]); });
        ::close(sv[1]);
      },
      weft::test::two_workers());
  return o;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(stranded)

BOOST_AUTO_TEST_CASE(a_sleep_ends_on_time_beside_a_hog) {
  Outcome o;
  weft::test::run(
      [&] {
        o = beside_a_hog(
            [] {
              const auto start = Clock::now();
              weft::sleep_for(50ms);
              return Clock::now() - start >= 50ms;
            },
            [] {});
      },
      weft::test::two_workers());
  check(o);
}

BOOST_AUTO_TEST_CASE(a_sleep_ends_on_time_beside_a_fiber_blocked_in_a_system_call) {
  Outcome o;
  weft::test::run(
      [&] {
        o = beside(
            [] {
              const auto start = Clock::now();
              weft::sleep_for(50ms);
              return Clock::now() - start >= 50ms;
            },
            [] {},
            [] { ::usleep(600 * 1000); });  // what weft::blocking is for
      },
      weft::test::two_workers());
  check(o);
}

BOOST_AUTO_TEST_CASE(a_wait_deadline_expires_on_time_beside_a_hog) {
  Outcome o;
  weft::test::run(
      [&] {
        weft::Event never;
        o = beside_a_hog(
            [&] { return never.wait({.deadline = weft::after(50ms)}) == std::errc::timed_out; },
            [] {});
      },
      weft::test::two_workers());
  check(o);
}

BOOST_AUTO_TEST_CASE(a_plain_threads_wake_up_is_served_beside_a_hog) {
  Outcome o;
  weft::test::run(
      [&] {
        weft::Event go;
        o = beside_a_hog([&] { return !go.wait(); },
                         [&] {
                           std::this_thread::sleep_for(50ms);
                           go.set();
                           go.reset();  // the next attempt waits again
                         });
      },
      weft::test::two_workers());
  check(o);
}

BOOST_AUTO_TEST_CASE(an_accept_a_token_watches_completes_beside_a_hog) {
  Outcome o;
  weft::test::run(
      [&] {
        auto listener = weft::net::TcpListener::bind({"127.0.0.1", 0}).value();
        const std::uint16_t port = listener.local_address().value().port();
        weft::CancelToken stop;  // as weft::http::serve accepts
        int client = -1;
        o = beside_a_hog(
            [&] {
              auto c = listener.accept({.cancel = &stop});
              return c.has_value();
            },
            [&] {
              std::this_thread::sleep_for(50ms);
              if (client >= 0) ::close(client);
              client = weft::test::plain_connect(port);
            });
        if (client >= 0) ::close(client);
      },
      weft::test::two_workers());
  check(o);
}

BOOST_AUTO_TEST_CASE(a_read_a_token_watches_completes_beside_a_hog) {
  weft::CancelToken token;
  check(read_beside_a_hog(
      [&](weft::net::TcpStream& reader, weft::MutableBuffer buf) {
        auto n = reader.read(buf, {.cancel = &token});
        return n && *n == 4;
      },
      [](int peer) {
        std::this_thread::sleep_for(50ms);
        (void)!::write(peer, "ping", 4);
      }));
}

// A read nobody answers, with a deadline (and a token too when `watched`).
// A ring's linked timeout fires in the kernel; the epoll backend's deadline
// is a scheduler timer the monitor fires.
void read_deadline_beside_a_hog(bool watched) {
  weft::CancelToken token;
  check(read_beside_a_hog(
      [&](weft::net::TcpStream& reader, weft::MutableBuffer buf) {
        auto n = reader.read(buf, {.deadline = weft::after(50ms), .cancel = watched ? &token : nullptr});
        return !n && n.error() == std::errc::timed_out;
      },
      [](int) {}));
}

BOOST_AUTO_TEST_CASE(a_read_deadline_expires_on_time_beside_a_hog) { read_deadline_beside_a_hog(false); }

BOOST_AUTO_TEST_CASE(a_watched_read_deadline_expires_on_time_beside_a_hog) {
  read_deadline_beside_a_hog(true);
}

// A cancel asked from another thread: the request waits in the busy
// worker's inbox, so the rescue serves it (epoll: ends the wait; ring: asks
// the kernel with a synchronous cancel).
BOOST_AUTO_TEST_CASE(a_cancel_from_a_plain_thread_ends_a_read_beside_a_hog) {
  weft::CancelToken tokens[20];  // one per attempt: a token stays cancelled
  std::atomic<int> attempt{0};
  check(read_beside_a_hog(
      [&](weft::net::TcpStream& reader, weft::MutableBuffer buf) {
        auto n = reader.read(buf, {.cancel = &tokens[attempt.load()]});
        return !n && n.error() == std::errc::operation_canceled;
      },
      [&](int) {
        std::this_thread::sleep_for(50ms);
        tokens[attempt.load()].cancel();
        attempt.fetch_add(1);
      }));
}

BOOST_AUTO_TEST_SUITE_END()
