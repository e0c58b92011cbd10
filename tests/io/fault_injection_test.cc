// Faults injected through faults/faults.h into the backends' system calls
// and the runtime's allocations: the runtime keeps serving, the failure
// reaches the caller it belongs to (or is retried where the kernel would
// have said it for a moment), and no completion and no byte is lost.
#include <arpa/inet.h>
#include <signal.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>
#include <stdexcept>
#include <string>
#include <vector>

#include <weft/faults/faults.h>

#include "support/child.h"
#include "support/net.h"
#include "support/runtime.h"

using namespace std::chrono_literals;
using weft::faults::Site;
using weft::test::connect_pair;
using weft::test::listen_any;

namespace {

// Leaves every site disarmed, whatever the test did.
struct Disarm {
  Disarm() { weft::faults::disarm_all(); }
  ~Disarm() { weft::faults::disarm_all(); }
};

// `pairs` TCP connections, each echoing `messages` messages of a size that
// varies with the message; every byte is checked. Returns the bytes that
// came back right.
std::size_t echo_traffic(int pairs, int messages) {
  weft::net::TcpListener listener = listen_any();
  std::vector<weft::JoinHandle<std::size_t>> clients;
  std::vector<weft::JoinHandle<void>> servers;
  for (int p = 0; p < pairs; ++p) {
    weft::test::Pair pair = connect_pair(listener);
    servers.push_back(weft::spawn([s = std::move(pair.server)]() mutable {
      char buf[4096];
      for (;;) {
        auto n = s.read(buf);
        if (!n || *n == 0) return;
        if (!s.write_all(weft::ConstBuffer(buf, *n))) return;
      }
    }));
    clients.push_back(weft::spawn([c = std::move(pair.client), p, messages]() mutable {
      std::size_t good = 0;
      std::string out;
      std::string in;
      for (int m = 0; m < messages; ++m) {
        out.assign(static_cast<std::size_t>(1 + (p * 131 + m * 977) % 3000), '\0');
        for (std::size_t i = 0; i < out.size(); ++i) out[i] = static_cast<char>(p + m + i);
        in.assign(out.size(), '\0');
        if (!c.write_all(weft::ConstBuffer(out.data(), out.size()))) break;
        if (!c.read_exact(weft::MutableBuffer(in.data(), in.size()))) break;
        if (in == out) good += in.size();
      }
      (void)c.shutdown();
      return good;
    }));
  }
  std::size_t good = 0;
  for (auto& c : clients) good += c.join();
  for (auto& s : servers) s.join();
  return good;
}

std::size_t expected_bytes(int pairs, int messages) {
  std::size_t total = 0;
  for (int p = 0; p < pairs; ++p) {
    for (int m = 0; m < messages; ++m) total += static_cast<std::size_t>(1 + (p * 131 + m * 977) % 3000);
  }
  return total;
}

// Runs traffic until `site` has failed `count` times (or 200 rounds).
void traffic_until_fired(Site site, std::uint64_t before, std::uint64_t count) {
  for (int round = 0; round < 200 && weft::faults::fired(site) - before < count; ++round) {
    BOOST_TEST(echo_traffic(4, 20) == expected_bytes(4, 20));
  }
}

}  // namespace

BOOST_AUTO_TEST_SUITE(fault_injection)

BOOST_AUTO_TEST_CASE(the_fault_spec_names_what_is_wrong_and_arms_nothing_then) {
  Disarm disarm;
  BOOST_TEST(weft::faults::arm_from("ring_entr=EINTR").find("unknown site") != std::string::npos);
  BOOST_TEST(weft::faults::arm_from("accept=ENOPE").find("unknown errno") != std::string::npos);
  BOOST_TEST(weft::faults::arm_from("accept").find("no '='") != std::string::npos);
  BOOST_TEST(weft::faults::arm_from("accept=EMFILE*x").find("bad count") != std::string::npos);
  // A good entry before a bad one is not armed either.
  BOOST_TEST(!weft::faults::arm_from("fiber_record=ENOMEM,accept=EMFILE+y").empty());
  BOOST_TEST(weft::faults::fail(Site::fiber_record) == 0);
  // A good list arms: skip 2, then fail 3 times, then pass.
  BOOST_TEST(weft::faults::arm_from("accept=EMFILE*3+2").empty());
  const std::uint64_t before = weft::faults::fired(Site::accept);
  int results[7];
  for (int& r : results) r = weft::faults::fail(Site::accept);
  const int expected[7] = {0, 0, EMFILE, EMFILE, EMFILE, 0, 0};
  for (int i = 0; i < 7; ++i) BOOST_TEST(results[i] == expected[i], "call " << i);
  BOOST_TEST(weft::faults::fired(Site::accept) - before == 3u);
  BOOST_TEST(weft::faults::arm_from("stack_map=12*0").empty());  // a number, forever
  for (int i = 0; i < 5; ++i) BOOST_TEST(weft::faults::fail(Site::stack_map) == ENOMEM);
  // Spread out: after 1 call, one in every 3 fails, twice.
  BOOST_TEST(weft::faults::arm_from("ring_enter=EAGAIN*2+1%3").empty());
  int spread[10];
  for (int& r : spread) r = weft::faults::fail(Site::ring_enter);
  const int every_third[10] = {0, 0, 0, EAGAIN, 0, 0, EAGAIN, 0, 0, 0};
  for (int i = 0; i < 10; ++i) BOOST_TEST(spread[i] == every_third[i], "call " << i);
  BOOST_TEST(weft::faults::arm_from("accept=EMFILE%0").find("bad every") != std::string::npos);
  BOOST_TEST(weft::faults::arm_from("accept=EMFILE*0%x").find("bad every") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_bad_weft_faults_stops_the_runtime_naming_it) {
  const auto r = weft::test::run_in_child([] {
    ::setenv("WEFT_FAULTS", "accept=EMFILE,bogus=EINTR", 1);
    try {
      weft::Runtime rt(weft::test::options());
      std::fprintf(stderr, "constructed\n");
    } catch (const std::invalid_argument& e) {
      std::fprintf(stderr, "%s\n", e.what());
    }
  });
  BOOST_TEST(r.exited);
  BOOST_TEST(r.err.find("WEFT_FAULTS: unknown site in 'bogus=EINTR'") != std::string::npos, r.err);
}

BOOST_AUTO_TEST_CASE(interrupted_and_refused_enters_are_retried_and_lose_nothing, weft::test::ring_only()) {
  Disarm disarm;
  for (const int error : {EINTR, EAGAIN, EBUSY}) {
    weft::Runtime rt(weft::test::options());
    const std::uint64_t before = weft::faults::fired(Site::ring_enter);
    rt.run([&] {
      weft::faults::arm(Site::ring_enter, error, 40, 3);
      traffic_until_fired(Site::ring_enter, before, 40);
    });
    BOOST_TEST(weft::faults::fired(Site::ring_enter) - before == 40u, std::strerror(error));
    // Some of them were a round's enter, counted where it failed (the rest
    // were enters to make room in the SQ, which try again at once).
    BOOST_TEST(rt.last_stats().poll_failures > 0u, std::strerror(error));
  }
}

BOOST_AUTO_TEST_CASE(short_submissions_lose_no_request, weft::test::ring_only()) {
  Disarm disarm;
  weft::test::run([] {
    const std::uint64_t before = weft::faults::fired(Site::ring_short_submit);
    weft::faults::arm(Site::ring_short_submit, EAGAIN, 0);  // every enter of several SQEs
    BOOST_TEST(echo_traffic(8, 30) == expected_bytes(8, 30));
    // Many sleepers at once: their timeouts go in few enters, each cut short.
    std::vector<weft::JoinHandle<bool>> sleepers;
    for (int i = 0; i < 200; ++i) sleepers.push_back(weft::spawn([] {
      weft::sleep_for(2ms);
      return true;
    }));
    int woke = 0;
    for (auto& h : sleepers) woke += h.join();
    BOOST_TEST(woke == 200);
    weft::faults::disarm_all();
    BOOST_TEST(weft::faults::fired(Site::ring_short_submit) - before > 10u);
  });
}

BOOST_AUTO_TEST_CASE(a_tiny_completion_queue_overflows_and_loses_no_completion, weft::test::ring_only()) {
  weft::RuntimeOptions options;
  options.ring_entries = 4;  // a CQ of 8
  weft::test::run(
      [] {
        constexpr int kReceivers = 300;
        weft::net::UdpSocket socket = weft::net::UdpSocket::bind({"127.0.0.1", 0}).value();
        // Room for every datagram while the receives wait to run (the
        // default buffer holds about 256 small ones).
        const int bytes = 4 << 20;
        if (::setsockopt(socket.native_handle(), SOL_SOCKET, SO_RCVBUFFORCE, &bytes, sizeof bytes) != 0)
          (void)::setsockopt(socket.native_handle(), SOL_SOCKET, SO_RCVBUF, &bytes, sizeof bytes);
        const weft::net::Address to = socket.local_address().value();
        std::vector<weft::JoinHandle<int>> receivers;
        for (int i = 0; i < kReceivers; ++i) {
          receivers.push_back(weft::spawn([&socket] {
            char buf[8];
            auto d = socket.recv_from(buf, {.deadline = weft::after(10s)});
            return d && d->size == 4 ? static_cast<int>(buf[0]) : -1;
          }));
        }
        weft::sleep_for(20ms);  // every receive is armed in the kernel
        const std::uint64_t overflows_before = weft::stats().cq_overflows;
        // Plain system calls, so that every receive completes before the
        // worker next looks: 300 completions (and their timeouts' cancellations) for 8 slots.
        const int raw = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(to.port());
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        for (int i = 0; i < kReceivers; ++i) {
          const char msg[4] = {static_cast<char>(i % 100), 0, 0, 0};
          BOOST_REQUIRE(::sendto(raw, msg, 4, 0, reinterpret_cast<sockaddr*>(&a), sizeof a) == 4);
        }
        ::close(raw);
        int received = 0;
        for (auto& h : receivers) received += h.join() >= 0;
        BOOST_TEST(received == kReceivers);
        BOOST_TEST(weft::stats().cq_overflows > overflows_before);
        BOOST_TEST_MESSAGE("polls that found the CQ overflowed: " << weft::stats().cq_overflows);
      },
      weft::test::one_worker(options));
}

BOOST_AUTO_TEST_CASE(failed_accepts_reach_the_caller_and_the_listener_goes_on) {
  Disarm disarm;
  weft::test::run([] {
    weft::net::TcpListener listener = listen_any();
    const weft::net::Address address = listener.local_address().value();
    const std::uint64_t before = weft::faults::fired(Site::accept);
    weft::faults::arm(Site::accept, EMFILE, 3);
    weft::faults::arm(Site::accept, ENFILE, 2, 0);  // the later plan replaces the first
    auto server = weft::spawn([&] {
      int failures = 0;
      int served = 0;
      while (served < 5) {
        auto c = listener.accept({.deadline = weft::after(5s)});
        if (!c) {
          if (c.error() != std::errc::too_many_files_open_in_system) return -1;
          ++failures;
          continue;
        }
        char b;
        if (c->read_exact(weft::MutableBuffer(&b, 1)) && c->write_all(weft::ConstBuffer(&b, 1))) ++served;
      }
      return failures;
    });
    for (int i = 0; i < 5; ++i) {
      weft::net::TcpStream c = weft::net::TcpStream::connect(address).value();
      const char out = static_cast<char>('a' + i);
      char in = 0;
      BOOST_TEST(c.write_all(weft::ConstBuffer(&out, 1)).has_value());
      BOOST_TEST(c.read_exact(weft::MutableBuffer(&in, 1)).has_value());
      BOOST_TEST(in == out);
    }
    BOOST_TEST(server.join() == 2);
    BOOST_TEST(weft::faults::fired(Site::accept) - before == 2u);
  });
}

BOOST_AUTO_TEST_CASE(an_interrupted_epoll_wait_is_retried_and_loses_nothing,
                     *weft::test::needs([] { return weft::test::on_epoll(); }, "the epoll backend")) {
  Disarm disarm;
  weft::Runtime rt(weft::test::options());
  const std::uint64_t before = weft::faults::fired(Site::epoll_wait);
  rt.run([&] {
    weft::faults::arm(Site::epoll_wait, EINTR, 40, 2);
    traffic_until_fired(Site::epoll_wait, before, 40);
  });
  BOOST_TEST(weft::faults::fired(Site::epoll_wait) - before == 40u);
  BOOST_TEST(rt.last_stats().poll_failures == 40u);
}

BOOST_AUTO_TEST_CASE(epoll_ctl_out_of_memory_fails_that_operation_only,
                     *weft::test::needs([] { return weft::test::on_epoll(); }, "the epoll backend")) {
  Disarm disarm;
  weft::test::run([] {
    int fds[2];
    BOOST_REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0);
    weft::os::Stream a(fds[0]);
    weft::os::Stream b(fds[1]);
    weft::faults::arm(Site::epoll_ctl, ENOMEM, 1);
    char c = 'x';
    // The first operation on a descriptor adds it to the epoll set: refused.
    auto first = a.write(weft::ConstBuffer(&c, 1));
    BOOST_TEST(!first.has_value());
    BOOST_TEST((first.error() == std::errc::not_enough_memory), first.error().message());
    // Asked again, it is added, and the bytes go through.
    BOOST_TEST(a.write(weft::ConstBuffer(&c, 1)).value() == 1u);
    char got = 0;
    BOOST_TEST(b.read(weft::MutableBuffer(&got, 1)).value() == 1u);
    BOOST_TEST(got == 'x');
    BOOST_TEST(echo_traffic(2, 10) == expected_bytes(2, 10));
  });
}

BOOST_AUTO_TEST_CASE(a_fiber_record_the_heap_refuses_is_a_bad_alloc_from_spawn) {
  Disarm disarm;
  weft::test::run([] {
    weft::faults::arm(Site::fiber_record, ENOMEM, 1);
    BOOST_CHECK_THROW((void)weft::spawn([] { return 1; }), std::bad_alloc);
    // Nothing half-made is left: the next spawn works, and the counts add up.
    BOOST_TEST(weft::spawn([] { return 7; }).join() == 7);
    BOOST_TEST(echo_traffic(2, 5) == expected_bytes(2, 5));
  });
}

BOOST_AUTO_TEST_CASE(a_stack_arena_that_cannot_be_mapped_fails_that_fiber_only) {
  Disarm disarm;
  const auto r = weft::test::run_in_child([] {
    weft::Runtime rt(weft::test::options());
    rt.run([] {
      // A size class this process has no arena for yet: its first fiber maps one.
      constexpr std::size_t kSize = 2u << 20;
      const std::uint64_t before = weft::faults::fired(Site::stack_map);
      weft::faults::arm(Site::stack_map, ENOMEM, 1);
      auto failed = weft::spawn([] { return 1; }, {.name = "unlucky", .stack_size = kSize});
      try {
        (void)failed.join();
        WEFT_CHILD_EXPECT(!"the fiber ran without a stack");
      } catch (const std::system_error& e) {
        std::fprintf(stderr, "%s\n", e.what());
        WEFT_CHILD_EXPECT(e.code() == std::errc::not_enough_memory);
        WEFT_CHILD_EXPECT(std::string(e.what()).find("no stack for fiber unlucky") != std::string::npos);
      }
      WEFT_CHILD_EXPECT(weft::spawn([] { return 2; }, {.stack_size = kSize}).join() == 2);
      WEFT_CHILD_EXPECT(weft::faults::fired(Site::stack_map) - before == 1u);
    });
  });
  BOOST_TEST(r.exited);
  BOOST_TEST(r.exit_code == 0, r.err);
}


BOOST_AUTO_TEST_CASE(a_read_with_a_deadline_under_short_submissions_ends_at_its_deadline, weft::test::ring_only()) {
  Disarm disarm;
  weft::Runtime rt(weft::test::options());
  rt.run([] {
    weft::net::TcpListener listener = listen_any();
    weft::test::Pair p = connect_pair(listener);
    weft::faults::arm(Site::ring_short_submit, EAGAIN, 0);
    const auto start = weft::Clock::now();
    char b;
    auto r = p.server.read(weft::MutableBuffer(&b, 1), {.deadline = weft::after(100ms)});
    const auto took = weft::Clock::now() - start;
    weft::faults::disarm_all();
    BOOST_TEST(!r.has_value());
    BOOST_TEST((r.error() == weft::errc::deadline_exceeded), r.error().message());
    BOOST_TEST(took >= 100ms);
    BOOST_TEST(took < 5s);
  });
  // The read went alone and its timeout after it, mended (uring/split_link.cc).
  BOOST_TEST(rt.last_stats().split_links >= 1u);
}

BOOST_AUTO_TEST_CASE(a_signal_wait_under_short_submissions_ends_at_its_deadline, weft::test::ring_only()) {
  Disarm disarm;
  weft::test::run([] {
    auto signals = weft::os::Signals::watch({SIGUSR2});
    BOOST_REQUIRE(signals.has_value());
    weft::net::TcpListener listener = listen_any();
    auto acceptor = weft::spawn([&] { return listener.accept({.deadline = weft::after(300ms)}).error(); });
    weft::faults::arm(Site::ring_short_submit, EAGAIN, 0);
    const auto start = weft::Clock::now();
    auto r = signals->wait({.deadline = weft::after(100ms)});
    const auto took = weft::Clock::now() - start;
    BOOST_TEST(!r.has_value());
    if (!r) BOOST_TEST((r.error() == weft::errc::deadline_exceeded), r.error().message());
    BOOST_TEST(took >= 100ms);
    (void)acceptor.join();
    weft::faults::disarm_all();
  });
}

BOOST_AUTO_TEST_SUITE_END()
