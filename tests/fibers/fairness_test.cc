// Fairness: a fiber that yields in a tight loop never keeps another runnable
// fiber waiting, whatever made that fiber runnable — the global queue (the
// local queue overflowed), the inbox (a plain thread or the blocking pool),
// a timer, or an I/O completion. Each case runs in Node's mode (one worker)
// and in Go's mode with WEFT_TEST_WORKERS workers (CTest runs the suite with
// 1 and 2, on both backends).
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <boost/test/unit_test.hpp>
#include <thread>
#include <vector>

#include "support/runtime.h"

using namespace std::chrono_literals;
using weft::Clock;

namespace {

// Runs `body` once per mode: single, then multi with the suite's workers.
template <class F>
void in_both_modes(F body) {
  for (const weft::Mode mode : {weft::Mode::single, weft::Mode::multi}) {
    BOOST_TEST_CONTEXT("mode " << (mode == weft::Mode::single ? "single" : "multi")) {
      weft::RuntimeOptions o;
      o.mode = mode;
      if (mode == weft::Mode::single) o.workers = 1;
      weft::test::run(body, o);
    }
  }
}

// Yields in a tight loop until `done` holds or `limit` passes (a starved
// fiber would never set it); returns whether it held.
bool yield_until(const std::atomic<bool>& done, Clock::duration limit = 10s) {
  const weft::Deadline give_up = Clock::now() + limit;
  while (!done.load(std::memory_order_acquire)) {
    if (Clock::now() > give_up) return false;
    weft::yield();
  }
  return true;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(fairness)

// More fibers than a local queue holds (256): half of it overflows into the
// global queue, which a yield loop beside them must not keep waiting.
BOOST_AUTO_TEST_CASE(fibers_overflowed_to_the_global_queue_run_beside_a_yield_loop) {
  in_both_modes([] {
    constexpr int kFibers = 1000;
    std::atomic<int> ran{0};
    std::atomic<bool> all{false};
    std::vector<weft::JoinHandle<void>> hs;
    hs.reserve(kFibers);
    for (int i = 0; i < kFibers; ++i) {
      hs.push_back(weft::spawn([&] {
        if (ran.fetch_add(1) + 1 == kFibers) all.store(true, std::memory_order_release);
      }));
    }
    BOOST_TEST(yield_until(all));
    BOOST_TEST(ran.load() == kFibers);
    for (auto& h : hs) h.join();
  });
}

// The same with the yield loop in a fiber of its own that never stops until
// the others have run, and main waiting on it: nothing else yields.
BOOST_AUTO_TEST_CASE(a_spinning_yielder_does_not_starve_fibers_it_spawned) {
  in_both_modes([] {
    constexpr int kFibers = 600;
    std::atomic<int> ran{0};
    auto yielder = weft::spawn([&] {
      std::vector<weft::JoinHandle<void>> hs;
      for (int i = 0; i < kFibers; ++i) hs.push_back(weft::spawn([&] { ran.fetch_add(1); }));
      const weft::Deadline give_up = Clock::now() + 10s;
      while (ran.load() < kFibers && Clock::now() < give_up) weft::yield();
      for (auto& h : hs) h.join();
      return ran.load();
    });
    BOOST_TEST(yielder.join() == kFibers);
  });
}

// A plain thread readies a fiber (through its worker's inbox).
BOOST_AUTO_TEST_CASE(a_fiber_readied_by_a_plain_thread_runs_beside_a_yield_loop) {
  in_both_modes([] {
    weft::Event go;
    std::atomic<bool> done{false};
    auto waiter = weft::spawn([&] {
      (void)go.wait();
      done.store(true, std::memory_order_release);
    });
    std::thread setter([&] {
      std::this_thread::sleep_for(10ms);
      go.set();
    });
    const bool ran = yield_until(done);
    setter.join();
    BOOST_TEST(ran);
    waiter.join();
  });
}

// The blocking pool hands a fiber back through the inbox too.
BOOST_AUTO_TEST_CASE(a_fiber_back_from_the_blocking_pool_runs_beside_a_yield_loop) {
  in_both_modes([] {
    std::atomic<bool> done{false};
    auto caller = weft::spawn([&] {
      const int v = weft::blocking([] {
        std::this_thread::sleep_for(5ms);
        return 7;
      });
      done.store(true, std::memory_order_release);
      return v;
    });
    BOOST_TEST(yield_until(done));
    BOOST_TEST(caller.join() == 7);
  });
}

// A sleeping fiber's timer fires while another fiber yields in a loop.
BOOST_AUTO_TEST_CASE(a_timer_fires_beside_a_yield_loop) {
  in_both_modes([] {
    std::atomic<bool> done{false};
    const auto start = Clock::now();
    auto sleeper = weft::spawn([&] {
      weft::sleep_for(5ms);
      done.store(true, std::memory_order_release);
      return Clock::now() - start;
    });
    BOOST_TEST(yield_until(done));
    BOOST_TEST(sleeper.join() >= 5ms);
  });
}

// An I/O completion (a plain thread writes to a socket a fiber reads from)
// is delivered while another fiber yields in a loop.
BOOST_AUTO_TEST_CASE(an_io_completion_is_delivered_beside_a_yield_loop) {
  in_both_modes([] {
    int sv[2];
    BOOST_REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    weft::net::TcpStream reader(sv[0]);
    std::atomic<bool> done{false};
    auto fiber = weft::spawn([&] {
      char buf[8] = {};
      auto n = reader.read(weft::MutableBuffer(buf, sizeof buf));
      done.store(true, std::memory_order_release);
      return n ? static_cast<int>(*n) : -1;
    });
    std::thread writer([&] {
      std::this_thread::sleep_for(10ms);
      BOOST_CHECK(::write(sv[1], "ping", 4) == 4);
    });
    const bool ran = yield_until(done);
    writer.join();
    BOOST_TEST(ran);
    BOOST_TEST(fiber.join() == 4);
    ::close(sv[1]);
  });
}

// Two fibers yielding to each other in loops both make progress, and the
// fibers queued behind them run too.
BOOST_AUTO_TEST_CASE(yield_loops_share_the_worker_with_queued_fibers) {
  in_both_modes([] {
    std::atomic<bool> stop{false};
    std::atomic<long> a{0}, b{0};
    auto loop = [&stop](std::atomic<long>& count) {
      return [&stop, &count] {
        while (!stop.load(std::memory_order_acquire)) {
          count.fetch_add(1, std::memory_order_relaxed);
          weft::yield();
        }
      };
    };
    auto ha = weft::spawn(loop(a));
    auto hb = weft::spawn(loop(b));
    std::atomic<int> ran{0};
    std::vector<weft::JoinHandle<void>> hs;
    for (int i = 0; i < 400; ++i) hs.push_back(weft::spawn([&] { ran.fetch_add(1); }));
    for (auto& h : hs) h.join();  // main parks: only the loops and these run
    stop.store(true, std::memory_order_release);
    ha.join();
    hb.join();
    BOOST_TEST(ran.load() == 400);
    BOOST_TEST(a.load() > 0);
    BOOST_TEST(b.load() > 0);
  });
}

BOOST_AUTO_TEST_SUITE_END()
