// Several workers: fibers spread over them, idle workers steal, wakes cross
// threads, and nothing is lost or run twice. These tests ask for two workers
// whatever WEFT_TEST_WORKERS says.
#include <atomic>
#include <boost/test/unit_test.hpp>
#include <memory>
#include <thread>
#include <vector>

#include "support/runtime.h"

#include <weft/fibers/sanitizer.h>

using namespace std::chrono_literals;
using weft::Clock;

#ifdef WEFT_TSAN
constexpr bool kUnderTsan = true;
#else
constexpr bool kUnderTsan = false;
#endif

BOOST_AUTO_TEST_SUITE(scheduler)

BOOST_AUTO_TEST_CASE(an_idle_worker_takes_fibers_a_busy_one_queued) {
  weft::Runtime rt(weft::test::options(weft::test::two_workers()));
  rt.run([] {
    // Two fibers that each wait, without yielding, until both have started:
    // only two workers running at once can finish them.
    std::atomic<int> started{0};
    auto spinner = [&] {
      started.fetch_add(1);
      const bool together = weft::test::spin_until([&] { return started.load() == 2; });
      return std::pair(together, weft::this_fiber::worker());
    };
    auto a = weft::spawn(spinner);
    auto b = weft::spawn(spinner);
    const auto [a_together, a_worker] = a.join();
    const auto [b_together, b_worker] = b.join();
    BOOST_TEST(a_together);
    BOOST_TEST(b_together);
    BOOST_TEST(a_worker != b_worker);
  });
  weft::Stats total;
  for (const weft::Stats& s : rt.worker_stats()) total += s;
  BOOST_TEST(rt.worker_stats().size() == 2u);
  BOOST_TEST(total.stolen_in >= 1u);
  BOOST_TEST(total.stolen_in == total.stolen_out);
}

BOOST_AUTO_TEST_CASE(many_fibers_spread_over_every_worker_and_each_runs_once) {
  weft::test::run(
      [] {
        // Each yields, so every one of them is started before the first
        // ends (a yield goes to the back of all runnable fibers): TSan,
        // which counts each started fiber as a thread, allows 8128.
        constexpr int kFibers = kUnderTsan ? 4000 : 20000;
        std::unique_ptr<std::atomic<int>[]> runs(new std::atomic<int>[kFibers]);
        for (int i = 0; i < kFibers; ++i) runs[i] = 0;
        std::atomic<unsigned> workers_seen{0};
        std::vector<weft::JoinHandle<long>> hs;
        hs.reserve(kFibers);
        for (int i = 0; i < kFibers; ++i) {
          hs.push_back(weft::spawn([&, i] {
            runs[i].fetch_add(1);
            long sum = 0;
            for (int k = 0; k < 3; ++k) {
              workers_seen.fetch_or(1u << weft::this_fiber::worker());
              // A little work, so that the second worker finds some left.
              const auto until = Clock::now() + 2us;
              while (Clock::now() < until) ++sum;
              weft::yield();
            }
            return static_cast<long>(i) + (sum > 0 ? 0 : 0);
          }));
        }
        long total = 0;
        for (auto& h : hs) total += h.join();
        BOOST_TEST(total == static_cast<long>(kFibers) * (kFibers - 1) / 2);
        int wrong = 0;
        for (int i = 0; i < kFibers; ++i) wrong += runs[i].load() != 1;
        BOOST_TEST(wrong == 0);
        BOOST_TEST(workers_seen.load() == 3u);
      },
      weft::test::two_workers());
}

BOOST_AUTO_TEST_CASE(ping_pong_between_fibers_loses_no_wake) {
  weft::test::run(
      [] {
        constexpr int kRounds = 20000;
        std::unique_ptr<weft::Event[]> ping(new weft::Event[kRounds]);
        std::unique_ptr<weft::Event[]> pong(new weft::Event[kRounds]);
        std::atomic<unsigned> workers_seen{0};
        auto a = weft::spawn([&] {
          for (int i = 0; i < kRounds; ++i) {
            workers_seen.fetch_or(1u << weft::this_fiber::worker());
            ping[i].set();
            if (pong[i].wait({.deadline = weft::after(10s)})) return i;
          }
          return kRounds;
        });
        auto b = weft::spawn([&] {
          for (int i = 0; i < kRounds; ++i) {
            if (ping[i].wait({.deadline = weft::after(10s)})) return i;
            workers_seen.fetch_or(1u << weft::this_fiber::worker());
            pong[i].set();
          }
          return kRounds;
        });
        BOOST_TEST(a.join() == kRounds);
        BOOST_TEST(b.join() == kRounds);
        BOOST_TEST(workers_seen.load() != 0u);
      },
      weft::test::two_workers());
}

BOOST_AUTO_TEST_CASE(a_plain_thread_wakes_fibers_on_any_worker) {
  weft::test::run(
      [] {
        constexpr int kRounds = 2000;
        std::unique_ptr<weft::Event[]> go(new weft::Event[kRounds]);
        std::unique_ptr<weft::Event[]> done(new weft::Event[kRounds]);
        auto fiber = weft::spawn([&] {
          for (int i = 0; i < kRounds; ++i) {
            if (go[i].wait({.deadline = weft::after(10s)})) return i;
            done[i].set();
          }
          return kRounds;
        });
        std::thread setter([&] {
          for (int i = 0; i < kRounds; ++i) {
            go[i].set();
            const auto give_up = Clock::now() + 10s;
            while (!done[i].is_set() && Clock::now() < give_up) std::this_thread::yield();
          }
        });
        const int rounds = fiber.join();
        setter.join();
        BOOST_TEST(rounds == kRounds);
      },
      weft::test::two_workers());
}

BOOST_AUTO_TEST_CASE(main_may_finish_on_any_worker) {
  // Main yields among busy fibers, so it may end on either worker; the
  // runtime must stop either way (run many times: a lost stop would hang).
  for (int round = 0; round < 50; ++round) {
    std::atomic<unsigned> seen{0};
    weft::test::run(
        [&] {
          std::vector<weft::JoinHandle<void>> hs;
          for (int i = 0; i < 4; ++i) {
            hs.push_back(weft::spawn([] {
              for (int k = 0; k < 20; ++k) weft::yield();
            }));
          }
          for (int k = 0; k < 20; ++k) weft::yield();
          for (auto& h : hs) h.join();
          seen.fetch_or(1u << weft::this_fiber::worker());
        },
        weft::test::two_workers());
    BOOST_TEST(seen.load() != 0u);
  }
}

BOOST_AUTO_TEST_CASE(a_deadline_on_another_worker_still_fires) {
  weft::test::run(
      [] {
        weft::Event never;
        std::atomic<bool> waiting{false};
        auto waiter = weft::spawn([&] {
          waiting.store(true);
          const auto start = Clock::now();
          const std::error_code e = never.wait({.deadline = weft::after(20ms)});
          return std::pair(e, Clock::now() - start);
        });
        // Keep this worker busy while the other one starts the wait.
        BOOST_TEST(weft::test::spin_until([&] { return waiting.load(); }));
        const auto [e, took] = waiter.join();
        BOOST_TEST((e == std::errc::timed_out));
        BOOST_TEST((took >= 20ms));
      },
      weft::test::two_workers());
}

BOOST_AUTO_TEST_CASE(a_token_cancelled_on_one_worker_ends_waits_on_another) {
  weft::test::run(
      [] {
        weft::Event never;
        weft::CancelToken token;
        std::atomic<int> started{0};
        std::vector<weft::JoinHandle<std::error_code>> hs;
        for (int i = 0; i < 8; ++i) {
          hs.push_back(weft::spawn([&] {
            started.fetch_add(1);
            return never.wait({.deadline = weft::after(10s), .cancel = &token});
          }));
        }
        BOOST_TEST(weft::test::spin_until([&] { return started.load() == 8; }));
        weft::sleep_for(2ms);
        token.cancel();
        int cancelled = 0;
        for (auto& h : hs) cancelled += h.join() == std::errc::operation_canceled;
        BOOST_TEST(cancelled == 8);
      },
      weft::test::two_workers());
}

BOOST_AUTO_TEST_SUITE_END()
