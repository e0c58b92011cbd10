// A fiber that computes without yielding: with two workers the rest of the
// service goes on (queued fibers are stolen, completions stranded on the
// busy worker's ring, or readiness in its epoll set, are rescued by the
// monitor), and the monitor reports
// the hog once, with the fiber's name.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <boost/test/unit_test.hpp>
#include <cstdio>
#include <fstream>
#include <functional>
#include <sstream>
#include <thread>
#include <string>
#include <vector>

#include "support/runtime.h"

using namespace std::chrono_literals;
using weft::Clock;
using weft::net::TcpListener;
using weft::net::TcpStream;

namespace {

using weft::test::spin_for;

// A plain blocking client socket (the client runs on a helper thread, not
// on the runtime it measures).
class Client {
 public:
  explicit Client(std::uint16_t port) : fd_(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    timeval tv{5, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    ok_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  }
  ~Client() { ::close(fd_); }
  // Sends `msg` and waits for one reply of `reply_len` bytes.
  std::string ask(const std::string& msg, std::size_t reply_len) {
    if (!ok_ || ::send(fd_, msg.data(), msg.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(msg.size()))
      return {};
    std::string reply(reply_len, '\0');
    std::size_t got = 0;
    while (got < reply_len) {
      const ssize_t n = ::recv(fd_, reply.data() + got, reply_len - got, 0);
      if (n <= 0) return {};
      got += static_cast<std::size_t>(n);
    }
    return reply;
  }

 private:
  int fd_;
  bool ok_ = false;
};

constexpr int kPingConnections = 4;
constexpr int kPings = 50;

}  // namespace

BOOST_AUTO_TEST_SUITE(hogs)

// The seed scenario: while one request computes for 1.5 s, another client
// gets every one of 50 pings answered before the computation ends.
BOOST_AUTO_TEST_CASE(a_fiber_that_never_yields_does_not_stop_the_others) {
  weft::Runtime rt(weft::test::two_workers());
  std::atomic<std::size_t> hog_worker{SIZE_MAX};
  std::atomic<bool> hog_started{false};
  std::atomic<Clock::rep> hog_ended{0};
  std::array<std::atomic<std::size_t>, kPingConnections> parked_on{};
  std::array<std::atomic<bool>, kPingConnections> in_read{};
  int answered = 0;
  Clock::time_point last_answer{};
  bool expect_rescue = false;
  rt.run([&] {
    TcpListener listener = TcpListener::bind({"127.0.0.1", 0}).value();
    const std::uint16_t port = listener.local_address().value().port();
    auto acceptor = weft::spawn(
        [&] {
          std::vector<weft::JoinHandle<void>> handlers;
          for (int i = 0; i < kPingConnections + 1; ++i) {
            auto c = listener.accept({.deadline = weft::after(10s)});
            if (!c) break;
            handlers.push_back(weft::spawn(
                [&, i, s = std::move(*c)]() mutable {
                  char buf[16];
                  for (;;) {
                    if (i < kPingConnections) {
                      parked_on[i].store(weft::this_fiber::worker());
                      in_read[i].store(true);
                    }
                    auto n = s.read(buf, {.deadline = weft::after(10s)});
                    if (i < kPingConnections) in_read[i].store(false);
                    if (!n || *n == 0) return;
                    if (buf[0] == 'h') {
                      hog_worker.store(weft::this_fiber::worker());
                      hog_started.store(true);
                      spin_for(1500ms);
                      hog_ended.store(Clock::now().time_since_epoch().count());
                      (void)s.write_all(std::string_view("done\n"));
                    } else {
                      (void)s.write_all(std::string_view("pong\n"));
                    }
                  }
                },
                {.name = i < kPingConnections ? "pinger" : "hogger"}));
          }
          for (auto& h : handlers) h.join();
        },
        {.name = "acceptor"});
    weft::blocking([&] {
      std::vector<std::unique_ptr<Client>> pings;
      for (int i = 0; i < kPingConnections; ++i) {
        pings.push_back(std::make_unique<Client>(port));
        if (pings.back()->ask("ping\n", 5) != "pong\n") return;  // warm up: handler parked
      }
      Client hog(port);
      if (hog.ask("hog\n", 0) != "") return;  // sends only
      while (!hog_started.load()) std::this_thread::sleep_for(100us);
      std::this_thread::sleep_for(20ms);  // well inside the spin
      for (int i = 0; i < kPingConnections; ++i) {
        expect_rescue |= in_read[i].load() && parked_on[i].load() == hog_worker.load();
      }
      for (int k = 0; k < kPings; ++k) {
        if (pings[static_cast<std::size_t>(k % kPingConnections)]->ask("ping\n", 5) != "pong\n") break;
        ++answered;
        last_answer = Clock::now();
      }
      (void)hog.ask("", 5);  // "done\n" once the spin is over
      pings.clear();
    });
    acceptor.join();
  });
  BOOST_TEST(hog_started.load());
  BOOST_TEST(answered == kPings);
  const Clock::time_point spin_end{Clock::duration(hog_ended.load())};
  BOOST_TEST((last_answer < spin_end), "the last ping was answered after the spin ended");
  BOOST_TEST(rt.last_hogs_reported() >= 1u);
  BOOST_TEST_MESSAGE("ping handlers stranded on the hog's ring: "
                     << (expect_rescue ? "yes" : "no") << ", fibers rescued: " << rt.last_rescued());
  if (expect_rescue) BOOST_TEST(rt.last_rescued() >= 1u);
}

// A read a fiber started just before another fiber of the same round began
// to compute: its SQE was still queued, not submitted, when the hog took the
// worker. The monitor hands it to the kernel (io_uring backend; the epoll
// backend attempts it at once), so the data that comes meanwhile is read on
// the other worker before the hog ends. Placement is the scheduler's, so the
// scenario is retried until the two fibers shared a worker.
BOOST_AUTO_TEST_CASE(a_read_queued_in_the_hogs_round_is_submitted_and_served_elsewhere) {
  weft::Runtime rt(weft::test::two_workers());
  bool tested = false;
  bool in_time = false;
  rt.run([&] {
    TcpListener listener = TcpListener::bind({"127.0.0.1", 0}).value();
    const std::uint16_t port = listener.local_address().value().port();
    for (int attempt = 0; attempt < 20 && !tested; ++attempt) {
      Client client(port);
      TcpStream server_side = listener.accept({.deadline = weft::after(5s)}).value();
      std::atomic<std::size_t> reader_worker{SIZE_MAX};
      std::atomic<bool> reading{false};
      std::atomic<Clock::rep> read_done{0};
      std::atomic<Clock::rep> spin_end{0};
      std::thread sender([&client] {
        std::this_thread::sleep_for(60ms);  // the hog runs by then
        (void)client.ask("x", 0);
      });
      // The hog waits for the reader to wake it: a fiber woken by a running
      // fiber runs next on the waker's worker, so it starts right after the
      // reader parks, in the same round.
      weft::Event go;
      auto hog = weft::spawn([&] {
        (void)go.wait();
        if (!reading.load() || weft::this_fiber::worker() != reader_worker.load()) return false;
        spin_for(500ms);
        spin_end.store(Clock::now().time_since_epoch().count());
        return true;
      });
      weft::yield();  // the hog parks on `go`
      auto reader = weft::spawn([&] {
        reader_worker.store(weft::this_fiber::worker());
        reading.store(true);
        go.set();
        char buf[8];
        const bool ok = server_side.read(buf, {.deadline = weft::after(5s)}).has_value();
        read_done.store(Clock::now().time_since_epoch().count());
        return ok;
      });
      const bool same = hog.join();
      const bool read_ok = reader.join();
      sender.join();
      if (!same) continue;
      tested = true;
      in_time = read_ok && read_done.load() < spin_end.load();
    }
  });
#ifdef WEFT_SANITIZE_BUILD
  // Sanitizers slow the reader's park past the moment an idle worker may
  // take the hog from its next slot: placement is not for sure there.
  if (!tested) BOOST_TEST_MESSAGE("never got the reader and the hog onto one worker: not tested");
#else
  BOOST_TEST(tested, "never got the reader and the hog onto one worker");
#endif
  if (tested) BOOST_TEST(in_time);
}

// The same service in single mode (Node's model): there is no other
// worker, so a ping sent while a request computes is answered only once the
// computation ends, as a Node server answers nothing while a callback runs.
BOOST_AUTO_TEST_CASE(in_single_mode_a_fiber_that_never_yields_holds_up_the_others) {
  weft::RuntimeOptions options;
  options.mode = weft::Mode::single;
  options.hog_threshold = 0ms;  // no report: the hold-up is the point here
  weft::Runtime rt(options);
  BOOST_TEST(rt.workers() == 1u);
  std::atomic<bool> hog_started{false};
  std::atomic<Clock::rep> hog_ended{0};
  std::string reply;
  Clock::time_point answered{};
  rt.run([&] {
    TcpListener listener = TcpListener::bind({"127.0.0.1", 0}).value();
    const std::uint16_t port = listener.local_address().value().port();
    auto server = weft::spawn([&] {
      std::vector<weft::JoinHandle<void>> handlers;
      for (int i = 0; i < 2; ++i) {
        auto c = listener.accept({.deadline = weft::after(10s)});
        if (!c) break;
        handlers.push_back(weft::spawn([&, s = std::move(*c)]() mutable {
          char buf[16];
          for (;;) {
            auto n = s.read(buf, {.deadline = weft::after(10s)});
            if (!n || *n == 0) return;
            if (buf[0] == 'h') {
              hog_started.store(true);
              spin_for(300ms);
              hog_ended.store(Clock::now().time_since_epoch().count());
              (void)s.write_all(std::string_view("done\n"));
            } else {
              (void)s.write_all(std::string_view("pong\n"));
            }
          }
        }));
      }
      for (auto& h : handlers) h.join();
    });
    weft::blocking([&] {
      Client ping(port);
      if (ping.ask("ping\n", 5) != "pong\n") return;  // served while nothing computes
      Client hog(port);
      if (hog.ask("hog\n", 0) != "") return;  // sends only
      while (!hog_started.load()) std::this_thread::sleep_for(100us);
      reply = ping.ask("ping\n", 5);
      answered = Clock::now();
      (void)hog.ask("", 5);
    });
    server.join();
  });
  BOOST_TEST(reply == "pong\n");
  const Clock::time_point spin_end{Clock::duration(hog_ended.load())};
  BOOST_TEST((answered >= spin_end), "a ping was answered while the only worker computed");
}

// A blocking call that ends while the worker its fiber parked on computes
// without yielding: the fiber resumes on the other worker (through the
// global queue) instead of waiting in the busy worker's inbox. The other
// worker is kept busy while the caller parks, so that the two fibers share a
// worker (retried should the scheduler place them apart). The call lasts 150 ms: the monitor notices a busy worker
// only at its next tick, which is up to 50 ms away after an idle spell (and
// later on a loaded machine, as under TSan beside other builds); a call
// ending before that waits in the inbox (see "Known limits").
BOOST_AUTO_TEST_CASE(a_blocking_call_ending_under_a_hog_resumes_elsewhere) {
  weft::Runtime rt(weft::test::two_workers());
  bool placed = false;
  bool resumed_in_time = false;
  rt.run([&] {
    for (int attempt = 0; attempt < 20 && !placed; ++attempt) {
      std::atomic<std::size_t> parked_on{SIZE_MAX};
      std::atomic<Clock::rep> resumed_at{0};
      weft::test::OtherWorkerBusy blocker;  // so that the caller parks here
      auto caller = weft::spawn([&] {
        parked_on.store(weft::this_fiber::worker());
        weft::blocking([] { std::this_thread::sleep_for(150ms); });
        resumed_at.store(Clock::now().time_since_epoch().count());
      });
      weft::yield();  // the caller parks in blocking()
      blocker.release();
      if (parked_on.load() != weft::this_fiber::worker()) {
        blocker.join();
        caller.join();
        continue;
      }
      placed = true;
      spin_for(600ms);  // the hog: this fiber, on the caller's worker
      const Clock::rep spin_end = Clock::now().time_since_epoch().count();
      blocker.join();
      caller.join();
      resumed_in_time = resumed_at.load() != 0 && resumed_at.load() < spin_end;
    }
  });
  BOOST_TEST(placed, "never got the caller and the hog onto one worker");
  if (placed) BOOST_TEST(resumed_in_time);
}

namespace {

// Runs `body` as a fiber named `name` in a runtime with a 50 ms hog
// threshold, with stderr captured; returns what the runtime printed, the
// fiber's id and how many episodes it reported.
struct Captured {
  std::string text;
  std::uint64_t id = 0;
  std::uint64_t reported = 0;
};
Captured run_capturing_stderr(const char* name, const std::function<void()>& body) {
  char path[] = "/tmp/weft-hog-XXXXXX";
  const int out = ::mkstemp(path);
  BOOST_REQUIRE(out >= 0);
  std::fflush(stderr);
  const int saved = ::dup(2);
  ::dup2(out, 2);
  weft::RuntimeOptions o = weft::test::options();
  o.hog_threshold = 50ms;
  weft::Runtime rt(o);
  Captured c;
  rt.run([&] {
    auto h = weft::spawn(
        [&body] {
          body();
          return weft::this_fiber::id();
        },
        {.name = name});
    c.id = h.join();
  });
  std::fflush(stderr);
  ::dup2(saved, 2);
  ::close(saved);
  ::close(out);
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  ::unlink(path);
  c.text = text.str();
  c.reported = rt.last_hogs_reported();
  return c;
}

}  // namespace

// The report names the fiber, its id, how long and which worker, once per
// episode, with a hint.
BOOST_AUTO_TEST_CASE(the_monitor_reports_a_hog_once) {
  const Captured c = run_capturing_stderr("number-cruncher", [] { spin_for(400ms); });
  const std::string prefix = "weft: fiber number-cruncher (#" + std::to_string(c.id) + ") has run ";
  const std::string& s = c.text;
  BOOST_TEST(s.find(prefix) != std::string::npos, s);
  BOOST_TEST(s.find(" ms without yielding on worker ") != std::string::npos, s);
  BOOST_TEST(s.find("weft::blocking") != std::string::npos, s);
  BOOST_TEST(s.find(prefix) == s.rfind(prefix), "reported more than once: " << s);
  BOOST_TEST(c.reported == 1u, s);
}

// A fiber that blocks its worker's thread in a system call uses no CPU, but
// stalls the worker all the same: reported too, as blocked, with the hint.
BOOST_AUTO_TEST_CASE(the_monitor_reports_a_fiber_blocked_in_a_system_call) {
  const Captured slept = run_capturing_stderr("sleeper", [] { ::usleep(400 * 1000); });
  const std::string prefix = "weft: fiber sleeper (#" + std::to_string(slept.id) + ") has blocked worker ";
  BOOST_TEST(slept.text.find(prefix) != std::string::npos, slept.text);
  BOOST_TEST(slept.text.find(" ms in a system call (use weft's I/O, or wrap the call in weft::blocking)") !=
                 std::string::npos,
             slept.text);
  BOOST_TEST(slept.text.find(prefix) == slept.text.rfind(prefix), "reported more than once: " << slept.text);
  BOOST_TEST(slept.reported == 1u, slept.text);

  // A read(2) on a blocking pipe that another thread fills later.
  int fds[2];
  BOOST_REQUIRE(::pipe(fds) == 0);
  std::thread filler([&] {
    std::this_thread::sleep_for(400ms);
    (void)!::write(fds[1], "x", 1);
  });
  const Captured reader = run_capturing_stderr("pipe-reader", [&] {
    char b;
    (void)!::read(fds[0], &b, 1);
  });
  filler.join();
  ::close(fds[0]);
  ::close(fds[1]);
  BOOST_TEST(reader.text.find("weft: fiber pipe-reader (#") != std::string::npos, reader.text);
  BOOST_TEST(reader.text.find(" in a system call ") != std::string::npos, reader.text);
  BOOST_TEST(reader.reported == 1u, reader.text);
}

BOOST_AUTO_TEST_SUITE_END()
