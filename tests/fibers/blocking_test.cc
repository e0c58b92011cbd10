#include <atomic>
#include <boost/test/unit_test.hpp>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <weft/fibers/blocking.h>

#include "support/child.h"
#include "support/runtime.h"

using namespace std::chrono_literals;

BOOST_AUTO_TEST_SUITE(blocking)

BOOST_AUTO_TEST_CASE(runs_on_another_thread_and_returns_its_value) {
  weft::test::run([] {
    const auto worker_thread = std::this_thread::get_id();
    std::thread::id ran_on;
    const std::string v = weft::blocking([&] {
      ran_on = std::this_thread::get_id();
      return std::string("from a helper");
    });
    BOOST_TEST(v == "from a helper");
    BOOST_TEST((ran_on != worker_thread));
  });
}

BOOST_AUTO_TEST_CASE(each_call_is_counted_as_a_blocking_job) {
  std::uint64_t before = 0;
  std::uint64_t after = 0;
  weft::test::run([&] {
    before = weft::stats().blocking_jobs;
    for (int i = 0; i < 5; ++i) BOOST_TEST(weft::blocking([i] { return i; }) == i);
  });
  // The runtime's summed counters after the run: five jobs, wherever the
  // fiber ran.
  weft::Runtime rt(weft::test::options());
  rt.run([&] {
    for (int i = 0; i < 5; ++i) (void)weft::blocking([] { return 0; });
  });
  after = rt.last_stats().blocking_jobs;
  BOOST_TEST(before == 0u);
  BOOST_TEST(after == 5u);
}

BOOST_AUTO_TEST_CASE(rethrows_what_the_function_throws) {
  weft::test::run([] {
    BOOST_CHECK_THROW(weft::blocking([]() -> int { throw std::runtime_error("nope"); }),
                      std::runtime_error);
    weft::blocking([] {});  // void works too
  });
}

BOOST_AUTO_TEST_CASE(other_fibers_keep_running_meanwhile) {
  weft::test::run([] {
    std::atomic<bool> done{false};
    int ticks = 0;
    auto ticker = weft::spawn([&] {
      while (!done.load()) {
        ++ticks;
        weft::sleep_for(1ms);
      }
    });
    weft::blocking([] { std::this_thread::sleep_for(50ms); });
    done = true;
    ticker.join();
    BOOST_TEST(ticks >= 10);
  });
}

BOOST_AUTO_TEST_CASE(many_calls_share_the_bounded_pool) {
  weft::test::run([] {
    std::atomic<int> running{0}, most{0};
    std::vector<weft::JoinHandle<int>> hs;
    for (int i = 0; i < 64; ++i) {
      hs.push_back(weft::spawn([&, i] {
        return weft::blocking([&, i] {
          const int now = ++running;
          for (int m = most.load(); now > m && !most.compare_exchange_weak(m, now);) {
          }
          std::this_thread::sleep_for(5ms);
          --running;
          return i;
        });
      }));
    }
    int sum = 0;
    for (auto& h : hs) sum += h.join();
    BOOST_TEST(sum == 63 * 64 / 2);
    BOOST_TEST(most.load() <= 16);  // the pool's default bound
    BOOST_TEST(most.load() >= 2);   // and it did run them side by side
  });
}

BOOST_AUTO_TEST_CASE(a_pending_call_is_not_a_deadlock) {
  weft::test::run([] {
    // main is the only fiber, parked on a helper: no timer, no I/O.
    BOOST_TEST(weft::blocking([] {
                 std::this_thread::sleep_for(30ms);
                 return 5;
               }) == 5);
  });
}

BOOST_AUTO_TEST_CASE(stopping_waits_for_calls_still_running) {
  std::atomic<bool> finished{false};
  weft::Runtime rt(weft::test::options());
  rt.run([&] {
    weft::spawn([&] {
      weft::blocking([&] {
        std::this_thread::sleep_for(50ms);
        finished = true;
      });
    }).detach();
    weft::yield();  // the call is running on a helper now
  });
  // run() returned only after the helper let go of the fiber's frame.
  BOOST_TEST(finished.load());
}

// run() ending with a blocking call still running says what it waits for
// and for how long, and waits no longer than RuntimeOptions::exit_wait.
BOOST_AUTO_TEST_CASE(the_end_of_a_run_says_what_blocking_calls_it_waits_for) {
  const auto waits = weft::test::run_in_child([] {
    weft::RuntimeOptions o = weft::test::options();
    o.exit_wait = std::chrono::milliseconds(5000);
    weft::Runtime rt(o);
    rt.run([] {
      weft::spawn([] { weft::blocking([] { std::this_thread::sleep_for(std::chrono::milliseconds(200)); }); })
          .detach();
      weft::sleep_for(std::chrono::milliseconds(20));  // the job has started
    });
  });
  BOOST_TEST(waits.exited);
  BOOST_TEST(waits.err.find("waits up to 5000 ms for 1 blocking call(s) still running") != std::string::npos,
             waits.err);
  BOOST_TEST(waits.err.find("still running after") == std::string::npos, waits.err);

  const auto start = std::chrono::steady_clock::now();
  const auto gives_up = weft::test::run_in_child([] {
    weft::RuntimeOptions o = weft::test::options();
    o.exit_wait = std::chrono::milliseconds(50);
    weft::Runtime rt(o);
    rt.run([] {
      weft::spawn([] { weft::blocking([] { std::this_thread::sleep_for(std::chrono::seconds(3)); }); }).detach();
      weft::sleep_for(std::chrono::milliseconds(20));
    });
    std::_Exit(0);  // before the helper thread's sleep ends
  });
  const auto took = std::chrono::steady_clock::now() - start;
  BOOST_TEST(gives_up.exited);
  BOOST_TEST(gives_up.err.find("1 blocking call(s) still running after 50 ms") != std::string::npos, gives_up.err);
  BOOST_TEST(took < std::chrono::milliseconds(2500));
}

BOOST_AUTO_TEST_SUITE_END()
