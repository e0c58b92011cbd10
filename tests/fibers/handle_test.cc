// weft::Handle: plain threads start fibers in a running runtime; before
// run(), after it, after the runtime is gone and from an empty handle the
// spawn is refused and the function destroyed; a stream of spawns racing
// the end of the run loses nothing (every copy is run or destroyed); a
// flood of spawns faster than the workers run them does not hold back a
// fiber's timer.
#include <atomic>
#include <boost/test/unit_test.hpp>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include "support/runtime.h"

using namespace std::chrono_literals;

namespace {

// Counts its destructions: every copy of a handed-over function must die.
struct Tally {
  std::atomic<int>* destroyed;
  explicit Tally(std::atomic<int>* d) : destroyed(d) {}
  ~Tally() { destroyed->fetch_add(1); }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(handle)

BOOST_AUTO_TEST_CASE(plain_threads_start_fibers_in_a_running_runtime) {
  weft::Runtime rt(weft::test::options());
  const weft::Handle h = rt.handle();
  rt.run([&] {
    weft::Channel<int> results(16);
    std::atomic<int> refused{0}, off_fiber{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < 100; ++i) {
          const int v = t * 100 + i;
          const bool ok = h.spawn(
              [&results, &off_fiber, v] {
                if (!weft::in_fiber()) off_fiber.fetch_add(1);
                (void)results.send(v);
              },
              {.name = "from-a-thread"});
          if (!ok) refused.fetch_add(1);
        }
      });
    }
    long sum = 0;
    for (int i = 0; i < 400; ++i) {  // (a refused spawn ends this at the deadline)
      auto v = results.recv({.deadline = weft::after(10s)});
      BOOST_TEST_REQUIRE(v.has_value());
      sum += *v;
    }
    for (auto& t : threads) t.join();  // each has posted all it will
    BOOST_TEST(sum == 399L * 400 / 2);
    BOOST_TEST(refused.load() == 0);
    BOOST_TEST(off_fiber.load() == 0);
  });
}

BOOST_AUTO_TEST_CASE(a_handle_with_no_run_under_way_refuses_and_drops_the_function) {
  std::atomic<int> destroyed{0};
  std::atomic<bool> ran{false};
  auto attempt = [&](const weft::Handle& h) {
    auto tally = std::make_shared<Tally>(&destroyed);
    const bool accepted = h.spawn([tally, &ran] { ran = true; });
    tally.reset();
    return accepted;
  };
  BOOST_TEST(!attempt(weft::Handle()));
  std::optional<weft::Handle> kept;
  {
    weft::Runtime rt(weft::test::options());
    kept = rt.handle();
    BOOST_TEST(!attempt(*kept));  // before run()
    rt.run([] {});
    BOOST_TEST(!attempt(*kept));  // after it
  }
  BOOST_TEST(!attempt(*kept));  // the runtime is gone
  BOOST_TEST(!ran.load());
  BOOST_TEST(destroyed.load() == 4);
}

BOOST_AUTO_TEST_CASE(spawns_racing_the_end_of_the_run_lose_nothing) {
  std::atomic<int> destroyed{0}, ran{0}, accepted{0}, tried{0};
  std::atomic<bool> stop{false};
  {
    weft::Runtime rt(weft::test::options());
    const weft::Handle h = rt.handle();
    std::thread feeder([&] {
      while (!stop.load()) {
        auto tally = std::make_shared<Tally>(&destroyed);
        tried.fetch_add(1);
        if (h.spawn([tally, &ran] { ran.fetch_add(1); })) accepted.fetch_add(1);
      }
    });
    rt.run([&] {
      // Let some arrive and run, then return while more are on their way.
      const auto until = weft::after(50ms);
      while (weft::Clock::now() < until && ran.load() < 100) weft::sleep_for(1ms);
    });
    stop = true;
    feeder.join();
  }
  BOOST_TEST(ran.load() > 0);
  BOOST_TEST(ran.load() <= accepted.load());
  BOOST_TEST(destroyed.load() == tried.load());  // every copy ran or was dropped
}

// The feeder posts without pause, faster than a worker starts and runs the
// jobs (certainly under the sanitizers). Each round takes a bounded share
// of the inbox, so the main fiber's timer wake is not queued behind the
// backlog: every 1 ms sleep returns within a round or two, far below the
// bound (a starved sleep waits for the whole backlog, which only grows).
BOOST_AUTO_TEST_CASE(a_flood_of_spawns_does_not_hold_back_a_timer) {
  std::atomic<bool> stop{false};
  std::atomic<long> ran{0}, accepted{0};
  weft::Clock::duration worst{};
  {
    weft::Runtime rt(weft::test::options());
    const weft::Handle h = rt.handle();
    std::thread feeder([&] {
      const auto give_up = std::chrono::steady_clock::now() + 20s;
      for (long n = 0; !stop.load() && n < 1'000'000; ++n) {
        if (h.spawn([&ran] { ran.fetch_add(1); })) accepted.fetch_add(1);
        if ((n & 1023) == 0 && std::chrono::steady_clock::now() > give_up) break;
      }
    });
    rt.run([&] {
      while (accepted.load() < 1000) weft::sleep_for(1ms);  // the flood is on
      for (int i = 0; i < 30; ++i) {
        const auto t0 = weft::Clock::now();
        weft::sleep_for(1ms);
        worst = std::max(worst, weft::Clock::now() - t0);
      }
      stop = true;
    });
    feeder.join();
  }
  BOOST_TEST(ran.load() > 0);
  BOOST_TEST(ran.load() <= accepted.load());
  const auto worst_ms = std::chrono::duration_cast<std::chrono::milliseconds>(worst).count();
  BOOST_TEST(worst_ms < 2000);
}

BOOST_AUTO_TEST_CASE(a_fiber_may_use_a_handle_too) {
  weft::Runtime rt(weft::test::options());
  const weft::Handle h = rt.handle();
  rt.run([&] {
    weft::Event done;
    BOOST_TEST_REQUIRE(h.spawn([&] { done.set(); }));
    BOOST_TEST(!done.wait({.deadline = weft::after(10s)}));
  });
}

BOOST_AUTO_TEST_SUITE_END()
