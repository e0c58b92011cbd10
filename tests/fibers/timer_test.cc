#include <algorithm>
#include <boost/test/unit_test.hpp>
#include <random>
#include <string>
#include <vector>

#include <weft/fibers/timer.h>

#include "support/runtime.h"

using namespace std::chrono_literals;
using weft::Clock;

BOOST_AUTO_TEST_SUITE(timers)

BOOST_AUTO_TEST_CASE(heap_fires_by_deadline_then_insertion_order) {
  struct Probe : weft::fibers::Timer {
    int id;
    std::vector<int>* fired;
  };
  weft::fibers::TimerHeap heap;
  std::vector<int> fired;
  std::vector<Probe> probes(200);
  std::mt19937 rng(7);
  const auto t0 = Clock::now();
  for (int i = 0; i < 200; ++i) {
    Probe& p = probes[static_cast<std::size_t>(i)];
    p.id = i;
    p.fired = &fired;
    p.deadline = t0 + std::chrono::milliseconds(rng() % 20);  // many ties
    p.fire = [](weft::fibers::Timer* t) {
      auto* pr = static_cast<Probe*>(t);
      pr->fired->push_back(pr->id);
    };
    heap.add(&p);
  }
  for (int i = 0; i < 200; i += 3) heap.remove(&probes[static_cast<std::size_t>(i)]);
  heap.remove(&probes[0]);  // removing twice is harmless
  BOOST_TEST(heap.size() == 200u - 67u);
  BOOST_TEST(heap.fire_expired(t0 + 5ms) > 0u);
  heap.fire_expired(t0 + 1h);
  BOOST_TEST(heap.empty());
  BOOST_REQUIRE(fired.size() == 133u);
  for (std::size_t i = 1; i < fired.size(); ++i) {
    const Probe& a = probes[static_cast<std::size_t>(fired[i - 1])];
    const Probe& b = probes[static_cast<std::size_t>(fired[i])];
    BOOST_TEST((a.deadline < b.deadline || (a.deadline == b.deadline && a.id < b.id)));
  }
  for (int id : fired) BOOST_TEST(id % 3 != 0);
}

BOOST_AUTO_TEST_CASE(sleepers_wake_in_deadline_order) {
  weft::test::run(
      [] {
        std::string order;
        std::vector<weft::JoinHandle<void>> hs;
        for (auto [ms, tag] : {std::pair{30, 'c'}, {10, 'a'}, {20, 'b'}, {0, '0'}}) {
          hs.push_back(weft::spawn([ms = ms, tag = tag, &order] {
            weft::sleep_for(std::chrono::milliseconds(ms));
            order += tag;
          }));
        }
        for (auto& h : hs) h.join();
        BOOST_TEST(order == "0abc");
      },
      weft::test::one_worker());
}

BOOST_AUTO_TEST_CASE(equal_deadlines_wake_in_the_order_they_were_set) {
  weft::test::run(
      [] {
        std::string order;
        const auto when = Clock::now() + 15ms;
        std::vector<weft::JoinHandle<void>> hs;
        for (char c : std::string("wxyz")) {
          hs.push_back(weft::spawn([c, when, &order] {
            weft::sleep_until(when);
            order += c;
          }));
        }
        for (auto& h : hs) h.join();
        BOOST_TEST(order == "wxyz");
      },
      weft::test::one_worker());
}

BOOST_AUTO_TEST_CASE(sleep_lasts_at_least_as_long_as_asked) {
  weft::test::run(
      [] {
        const auto start = Clock::now();
        weft::sleep_for(25ms);
        const auto took = Clock::now() - start;
        BOOST_TEST((took >= 25ms));
        BOOST_TEST((took < 2s));
        BOOST_TEST(weft::stats().timers_fired >= 1u);
      },
      weft::test::one_worker());
}

BOOST_AUTO_TEST_CASE(other_fibers_run_while_one_sleeps) {
  weft::test::run([] {
    int ticks = 0;
    auto sleeper = weft::spawn([] { weft::sleep_for(30ms); });
    auto busy = weft::spawn([&] {
      while (!sleeper.finished()) {
        ++ticks;
        weft::yield();
      }
    });
    busy.join();
    sleeper.join();
    BOOST_TEST(ticks > 10);
  });
}

BOOST_AUTO_TEST_CASE(event_wakes_every_waiter_first_come_first_served) {
  weft::test::run(
      [] {
        weft::Event ev;
        std::string order;
        std::vector<weft::JoinHandle<void>> hs;
        for (char c : std::string("pqr")) {
          hs.push_back(weft::spawn([c, &ev, &order] {
            BOOST_TEST(!ev.wait());
            order += c;
          }));
        }
        weft::yield();  // all three wait now
        BOOST_TEST(order.empty());
        ev.set();
        for (auto& h : hs) h.join();
        BOOST_TEST(order == "pqr");
        BOOST_TEST(!ev.wait());  // stays set
        ev.reset();
        BOOST_TEST(!ev.is_set());
      },
      weft::test::one_worker());
}

BOOST_AUTO_TEST_CASE(a_wait_with_a_deadline_times_out) {
  weft::test::run([] {
    weft::Event ev;
    const auto start = Clock::now();
    const std::error_code e = ev.wait({.deadline = weft::after(20ms)});
    BOOST_TEST((e == std::errc::timed_out));
    BOOST_TEST((Clock::now() - start >= 20ms));
    BOOST_TEST((ev.wait({.deadline = Clock::now() - 1s}) == std::errc::timed_out));  // already past
  });
}

BOOST_AUTO_TEST_CASE(cancelling_a_token_ends_every_wait_on_it) {
  weft::test::run([] {
    weft::Event ev;
    weft::CancelToken token;
    std::atomic<int> cancelled{0};  // the waiters may run on different workers
    std::vector<weft::JoinHandle<void>> hs;
    for (int i = 0; i < 3; ++i) {
      hs.push_back(weft::spawn([&] {
        if (ev.wait({.cancel = &token}) == std::errc::operation_canceled) ++cancelled;
      }));
    }
    weft::yield();
    token.cancel();
    for (auto& h : hs) h.join();
    BOOST_TEST(cancelled == 3);
    // Sticky: a wait that starts on a cancelled token fails at once.
    BOOST_TEST((ev.wait({.cancel = &token}) == std::errc::operation_canceled));
    // The event itself is unharmed.
    ev.set();
    BOOST_TEST(!ev.wait());
  });
}

BOOST_AUTO_TEST_CASE(a_wake_racing_a_deadline_wakes_the_fiber_once) {
  weft::test::run([] {
    weft::Event ev;
    const auto when = Clock::now() + 10ms;
    int woken = 0;
    auto waiter = weft::spawn([&] {
      (void)ev.wait({.deadline = when});
      ++woken;
      weft::sleep_for(20ms);  // a second, stray wake-up would end this early
      return woken;
    });
    auto setter = weft::spawn([&] {
      weft::sleep_until(when);
      ev.set();
    });
    BOOST_TEST(waiter.join() == 1);
    setter.join();
  });
}

BOOST_AUTO_TEST_SUITE_END()
