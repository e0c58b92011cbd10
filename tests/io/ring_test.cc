#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "support/child.h"
#include "support/runtime.h"

using namespace std::chrono_literals;

namespace {

// Makes io_uring_setup fail with `error` for this process (seccomp filter).
bool forbid_io_uring_setup(int error) {
  sock_filter filter[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
      BPF_STMT(BPF_RET | BPF_K,
               SECCOMP_RET_ERRNO | (static_cast<unsigned>(error) & SECCOMP_RET_DATA)),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  sock_fprog prog{static_cast<unsigned short>(std::size(filter)), filter};
  return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 &&
         prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) == 0;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(ring)

BOOST_AUTO_TEST_CASE(many_operations_in_one_round_share_few_enters, weft::test::ring_only()) {
  weft::test::run(
      [] {
        char tmpl[] = "/tmp/weft-batch-XXXXXX";
        const int fd = mkstemp(tmpl);
        BOOST_REQUIRE(fd >= 0);
        BOOST_REQUIRE(write(fd, "0123456789", 10) == 10);
        close(fd);
        weft::fs::File f = weft::fs::File::open(tmpl).value();
        unlink(tmpl);
        constexpr int kFibers = 200;
        const weft::Stats before = weft::stats();
        std::vector<weft::JoinHandle<std::size_t>> hs;
        for (int i = 0; i < kFibers; ++i) {
          hs.push_back(weft::spawn([&f] {
            char c;
            return f.read_at(weft::MutableBuffer(&c, 1), 3).value();
          }));
        }
        std::size_t bytes = 0;
        for (auto& h : hs) bytes += h.join();
        const weft::Stats after = weft::stats();
        BOOST_TEST(bytes == std::size_t{kFibers});
        const auto enters = after.ring_enters - before.ring_enters;
        const auto sqes = after.sqes_submitted - before.sqes_submitted;
        BOOST_TEST_MESSAGE("200 reads: " << sqes << " SQEs in " << enters
                                         << " io_uring_enter calls");
        BOOST_TEST(sqes >= std::uint64_t{kFibers});
        BOOST_TEST(enters <= 4u);
      },
      weft::test::one_worker());
}

BOOST_AUTO_TEST_CASE(a_full_submission_queue_is_handed_over_early_and_nothing_is_lost, weft::test::ring_only()) {
  weft::RuntimeOptions options;
  options.ring_entries = 8;
  weft::test::run(
      [] {
        weft::net::UdpSocket s = weft::net::UdpSocket::bind({"127.0.0.1", 0}).value();
        std::vector<weft::JoinHandle<bool>> hs;
        for (int i = 0; i < 100; ++i) {
          hs.push_back(weft::spawn([&s] {
            char buf[4];
            return s.recv_from(buf, {.deadline = weft::after(20ms)}).error() ==
                   std::errc::timed_out;
          }));
        }
        int timed_out = 0;
        for (auto& h : hs) timed_out += h.join();
        BOOST_TEST(timed_out == 100);
      },
      options);
}

BOOST_AUTO_TEST_CASE(an_idle_ring_makes_no_system_calls, weft::test::ring_only()) {
  weft::test::run(
      [] {
        const weft::Stats before = weft::stats();
        for (int i = 0; i < 1000; ++i) weft::yield();
        const weft::Stats after = weft::stats();
        BOOST_TEST(after.ring_enters == before.ring_enters);
        BOOST_TEST(after.rounds - before.rounds >= 10u);  // it did poll, without entering
      },
      weft::test::one_worker());
}

BOOST_AUTO_TEST_CASE(features_are_probed_and_described, weft::test::ring_only()) {
  weft::Runtime rt;
  BOOST_TEST(std::string(rt.backend_name()) == "io_uring");
  const weft::RingFeatures& f = rt.features();
  BOOST_TEST(f.sq_entries >= 1024u);
  BOOST_TEST(f.cq_entries >= 2 * f.sq_entries);
  const std::string d = f.describe();
  BOOST_TEST_MESSAGE(d);
  BOOST_TEST(d.find("setup=") != std::string::npos);
  BOOST_TEST(d.find("multishot_accept=") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(every_optional_feature_can_be_switched_off) {
  weft::RuntimeOptions options;
  options.defer_taskrun = false;
  options.single_issuer = false;
  options.register_ring_fd = false;
  options.multishot_accept = false;
  weft::test::run(
      [] {
        auto listener = weft::net::TcpListener::bind({"127.0.0.1", 0}).value();
        auto server = weft::spawn([&] {
          auto c = listener.accept().value();
          char buf[5];
          c.read_exact(buf).value();
          c.write_all(weft::ConstBuffer(buf, 5)).value();
        });
        auto c = weft::net::TcpStream::connect(listener.local_address().value()).value();
        c.write_all("hello").value();
        char buf[5];
        c.read_exact(buf).value();
        BOOST_TEST(std::string(buf, 5) == "hello");
        server.join();
      },
      options);
}

// A TCP round trip, to show a runtime really works.
void echo_once() {
  auto listener = weft::net::TcpListener::bind({"127.0.0.1", 0}).value();
  auto server = weft::spawn([&] {
    auto c = listener.accept().value();
    char buf[4];
    c.read_exact(buf).value();
    c.write_all(weft::ConstBuffer(buf, 4)).value();
  });
  auto c = weft::net::TcpStream::connect(listener.local_address().value()).value();
  c.write_all("ping").value();
  char buf[4];
  c.read_exact(buf).value();
  WEFT_CHILD_EXPECT(std::string(buf, 4) == "ping");
  server.join();
}

BOOST_AUTO_TEST_CASE(io_uring_refused_falls_back_to_epoll_with_one_line) {
  for (int error : {ENOSYS, EPERM}) {
    const auto r = weft::test::run_in_child([error] {
      unsetenv("WEFT_BACKEND");
      WEFT_CHILD_EXPECT(forbid_io_uring_setup(error));
      weft::Runtime rt;
      WEFT_CHILD_EXPECT(std::string(rt.backend_name()) == "epoll");
      rt.run([] { echo_once(); });
    });
    BOOST_TEST(r.exited);
    BOOST_TEST(r.exit_code == 0, r.err);
    BOOST_TEST(r.err.find("weft: io_uring is unavailable: ") != std::string::npos, r.err);
    BOOST_TEST(r.err.find(error == ENOSYS ? "(ENOSYS)" : "(EPERM)") != std::string::npos, r.err);
    BOOST_TEST(r.err.find("running on epoll") != std::string::npos, r.err);
    std::size_t lines = 0;
    for (char c : r.err) lines += c == '\n';
    BOOST_TEST(lines == 1u, r.err);  // one line, nothing more
  }
}

BOOST_AUTO_TEST_CASE(io_uring_demanded_but_refused_fails_with_the_reason) {
  for (int error : {ENOSYS, EPERM}) {
    for (bool by_environment : {false, true}) {
      const auto r = weft::test::run_in_child([error, by_environment] {
        weft::RuntimeOptions options;
        if (by_environment)
          setenv("WEFT_BACKEND", "uring", 1);
        else
          options.backend = weft::BackendKind::uring;
        WEFT_CHILD_EXPECT(forbid_io_uring_setup(error));
        try {
          weft::Runtime rt(options);
          std::_Exit(2);  // must not get here
        } catch (const std::system_error& e) {
          std::fprintf(stderr, "%s\n", e.what());
          WEFT_CHILD_EXPECT(e.code().value() == error);
          WEFT_CHILD_EXPECT(std::string(e.what()).find("io_uring is unavailable") !=
                            std::string::npos);
        }
      });
      BOOST_TEST(r.exited);
      BOOST_TEST(r.exit_code == 0, r.err);
    }
  }
}

BOOST_AUTO_TEST_CASE(the_backend_can_be_chosen_in_code_or_by_environment) {
  weft::RuntimeOptions options;
  options.backend = weft::BackendKind::epoll;
  BOOST_TEST(std::string(weft::Runtime(options).backend_name()) == "epoll");
  options.backend = weft::BackendKind::uring;
  BOOST_TEST(std::string(weft::Runtime(options).backend_name()) == "io_uring");
  const auto r = weft::test::run_in_child([] {
    setenv("WEFT_BACKEND", "epoll", 1);
    WEFT_CHILD_EXPECT(std::string(weft::Runtime().backend_name()) == "epoll");
    setenv("WEFT_BACKEND", "uring", 1);
    WEFT_CHILD_EXPECT(std::string(weft::Runtime().backend_name()) == "io_uring");
    setenv("WEFT_BACKEND", "kqueue", 1);
    try {
      weft::Runtime rt;
      std::_Exit(2);
    } catch (const std::invalid_argument& e) {
      WEFT_CHILD_EXPECT(std::string(e.what()).find("WEFT_BACKEND") != std::string::npos);
    }
  });
  BOOST_TEST(r.exit_code == 0, r.err);
}

BOOST_AUTO_TEST_CASE(single_mode_runs_every_fiber_on_the_thread_that_called_run) {
  weft::RuntimeOptions options;
  options.mode = weft::Mode::single;
  weft::Runtime rt(options);
  BOOST_TEST(rt.workers() == 1u);
  BOOST_TEST((rt.mode() == weft::Mode::single));
  BOOST_TEST(std::string(rt.mode_name()) == "single");
  const std::thread::id caller = std::this_thread::get_id();
  int elsewhere = 0;  // fibers seen on another thread; only the caller's runs fibers
  rt.run([&] {
    std::vector<weft::JoinHandle<bool>> handles;
    for (int i = 0; i < 64; ++i) {
      handles.push_back(weft::spawn([caller] {
        weft::yield();
        return std::this_thread::get_id() == caller && weft::this_fiber::worker() == 0;
      }));
    }
    for (auto& h : handles) elsewhere += h.join() ? 0 : 1;
  });
  BOOST_TEST(elsewhere == 0);
  BOOST_TEST(rt.worker_stats().size() == 1u);
}

BOOST_AUTO_TEST_CASE(the_mode_can_be_chosen_in_code_or_by_environment) {
  weft::RuntimeOptions options;
  options.mode = weft::Mode::single;
  options.workers = 2;
  BOOST_CHECK_THROW(weft::Runtime{options}, std::invalid_argument);
  options.mode = weft::Mode::multi;
  BOOST_TEST(weft::Runtime(options).workers() == 2u);
  const auto r = weft::test::run_in_child([] {
    unsetenv("WEFT_WORKERS");
    setenv("WEFT_MODE", "single", 1);
    WEFT_CHILD_EXPECT(weft::Runtime().workers() == 1u);
    WEFT_CHILD_EXPECT((weft::Runtime().mode() == weft::Mode::single));
    setenv("WEFT_WORKERS", "2", 1);  // single wins, and says so
    WEFT_CHILD_EXPECT(weft::Runtime().workers() == 1u);
    weft::RuntimeOptions multi;
    multi.mode = weft::Mode::multi;  // the code's choice wins over WEFT_MODE
    WEFT_CHILD_EXPECT(weft::Runtime(multi).workers() == 2u);
    setenv("WEFT_MODE", "multi", 1);
    WEFT_CHILD_EXPECT(weft::Runtime().workers() == 2u);
    WEFT_CHILD_EXPECT((weft::Runtime().mode() == weft::Mode::multi));
    setenv("WEFT_MODE", "node", 1);
    try {
      weft::Runtime rt;
      std::_Exit(2);
    } catch (const std::invalid_argument& e) {
      WEFT_CHILD_EXPECT(std::string(e.what()).find("WEFT_MODE must be multi or single, not node") !=
                        std::string::npos);
    }
  });
  BOOST_TEST(r.exit_code == 0, r.err);
  BOOST_TEST(r.err.find("weft: single mode runs one worker; WEFT_WORKERS=2 ignored") !=
                 std::string::npos,
             r.err);
}

BOOST_AUTO_TEST_CASE(io_outside_a_fiber_is_refused_clearly) {
  char buf[4];
  weft::net::TcpStream s;
  // Not open: EBADF before anything else.
  BOOST_TEST((s.read(buf).error() == std::errc::bad_file_descriptor));
  BOOST_CHECK_THROW((void)weft::fs::File::open("/etc/hostname"), std::logic_error);
}


// Both ways of waking a parked worker deliver: a plain thread sends into a
// channel on which the main fiber waits, while every worker sleeps in its
// ring. MSG_RING is used where the kernel takes a ring-less one (6.13).
BOOST_AUTO_TEST_CASE(both_wake_mechanisms_wake_a_sleeping_worker, weft::test::ring_only()) {
  utsname u{};
  BOOST_REQUIRE(uname(&u) == 0);
  int major = 0, minor = 0;
  std::sscanf(u.release, "%d.%d", &major, &minor);
  const bool kernel_has_sync_msg = major > 6 || (major == 6 && minor >= 13);
  for (const weft::WakeMechanism mech :
       {weft::WakeMechanism::msg_ring, weft::WakeMechanism::eventfd}) {
    for (const std::size_t workers : {std::size_t{1}, std::size_t{2}}) {
      weft::RuntimeOptions o;
      o.workers = workers;
      if (workers > 1) o.mode = weft::Mode::multi;  // whatever WEFT_MODE says
      o.wake = mech;
      weft::Runtime rt(o);
      const bool msg = mech == weft::WakeMechanism::msg_ring;
      BOOST_TEST(rt.features().msg_ring_wake == (msg && kernel_has_sync_msg));
      const std::string d = rt.describe_backend();
      BOOST_TEST(d.find(rt.features().msg_ring_wake ? "wake=msg_ring" : "wake=eventfd") !=
                 std::string::npos);
      int got = 0;
      rt.run([&] {
        weft::Channel<int> ch;
        for (int i = 1; i <= 20; ++i) {
          // Sleeps first, so the workers are parked when the value arrives.
          std::thread sender([&ch, i] {
            std::this_thread::sleep_for(std::chrono::milliseconds(2));
            (void)ch.send(i);
          });
          auto v = ch.recv({.deadline = weft::after(std::chrono::seconds(5))});
          sender.join();
          if (!v) break;
          got += *v == i;
        }
      });
      BOOST_TEST(got == 20, "workers=" << workers << " msg_ring=" << msg);
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()
