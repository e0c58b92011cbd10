#include <atomic>
#include <boost/test/unit_test.hpp>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <weft/alloc/stack.h>
#include <weft/fibers/worker.h>

#include "support/runtime.h"

using namespace std::chrono_literals;

namespace {

// Pages resident in the current fiber's stack.
std::size_t my_resident_pages() {
  return weft::alloc::resident_pages(weft::fibers::Worker::current()->current_fiber()->stack);
}

// Recurses until `depth` bytes of stack are in use, then runs `at_bottom`.
template <class F>
[[gnu::noinline]] void go_deep(std::size_t depth, F&& at_bottom) {
  char frame[1024];
  // Every frame really is on the stack, and touched: the compiler must
  // assume the escaped array is read (clang at -O2 otherwise shrinks it).
  for (std::size_t i = 0; i < sizeof frame; i += 64) frame[i] = 1;
  asm volatile("" : : "r"(frame) : "memory");
  if (depth > sizeof frame)
    go_deep(depth - sizeof frame, at_bottom);
  else
    at_bottom();
  asm volatile("" : : "r"(frame) : "memory");
}

}  // namespace

BOOST_AUTO_TEST_SUITE(spawn)

BOOST_AUTO_TEST_CASE(join_returns_the_fibers_value) {
  const int v = weft::test::run([] {
    auto h = weft::spawn([] { return 6 * 7; });
    BOOST_TEST(h.joinable());
    const int r = h.join();
    BOOST_TEST(!h.joinable());
    return r;
  });
  BOOST_TEST(v == 42);
}

BOOST_AUTO_TEST_CASE(join_moves_out_move_only_results) {
  weft::test::run([] {
    auto h = weft::spawn([] { return std::make_unique<std::string>("moved"); });
    std::unique_ptr<std::string> p = h.join();
    BOOST_REQUIRE(p);
    BOOST_TEST(*p == "moved");
  });
}

BOOST_AUTO_TEST_CASE(fibers_start_in_spawn_order_and_yield_round_robin) {
  weft::test::run(
      [] {
        std::string trace;
        std::vector<weft::JoinHandle<void>> hs;
        for (char c : std::string("abc")) {
          hs.push_back(weft::spawn([c, &trace] {
            for (int i = 0; i < 3; ++i) {
              trace += c;
              weft::yield();
            }
          }));
        }
        for (auto& h : hs) h.join();
        BOOST_TEST(trace == "abcabcabc");
      },
      weft::test::one_worker());
}

BOOST_AUTO_TEST_CASE(a_spawned_fiber_does_not_run_until_the_spawner_yields) {
  weft::test::run(
      [] {
        bool ran = false;
        auto h = weft::spawn([&] { ran = true; });
        BOOST_TEST(!ran);
        BOOST_TEST(!h.finished());
        weft::yield();
        BOOST_TEST(ran);
        BOOST_TEST(h.finished());
        h.join();
      },
      weft::test::one_worker());
}

BOOST_AUTO_TEST_CASE(join_parks_until_the_fiber_finishes) {
  weft::test::run(
      [] {
        std::string trace;
        auto h = weft::spawn([&] {
          trace += "1";
          weft::sleep_for(20ms);
          trace += "3";
          return 7;
        });
        trace += "0";
        weft::yield();
        trace += "2";
        BOOST_TEST(h.join() == 7);
        trace += "4";
        BOOST_TEST(trace == "01234");
      },
      weft::test::one_worker());
}

BOOST_AUTO_TEST_CASE(an_exception_escaping_a_fiber_is_rethrown_by_join) {
  weft::test::run([] {
    auto h = weft::spawn([]() -> int { throw std::runtime_error("fiber failed"); });
    try {
      h.join();
      BOOST_FAIL("join should have thrown");
    } catch (const std::runtime_error& e) {
      BOOST_TEST(std::string(e.what()) == "fiber failed");
    }
  });
}

BOOST_AUTO_TEST_CASE(exceptions_of_any_type_cross_join) {
  struct Custom {
    int code;
  };
  weft::test::run([] {
    auto h = weft::spawn([] { throw Custom{17}; });
    try {
      h.join();
      BOOST_FAIL("join should have thrown");
    } catch (const Custom& c) {
      BOOST_TEST(c.code == 17);
    }
  });
}

BOOST_AUTO_TEST_CASE(a_fiber_parked_in_a_catch_block_keeps_its_own_exception) {
  weft::test::run([] {
    std::string seen_a, seen_b;
    int uncaught_in_a = -1;
    auto a = weft::spawn([&] {
      try {
        throw std::runtime_error("a");
      } catch (const std::exception&) {
        weft::yield();
        weft::yield();
        try {
          throw;  // rethrows the exception this fiber is handling
        } catch (const std::exception& e) {
          seen_a = e.what();
        }
        uncaught_in_a = std::uncaught_exceptions();
      }
    });
    auto b = weft::spawn([&] {
      try {
        throw std::logic_error("b");
      } catch (const std::exception&) {
        weft::yield();
        try {
          throw;
        } catch (const std::exception& e) {
          seen_b = e.what();
        }
      }
    });
    a.join();
    b.join();
    BOOST_TEST(seen_a == "a");
    BOOST_TEST(seen_b == "b");
    BOOST_TEST(uncaught_in_a == 0);
    BOOST_TEST(!std::current_exception());
  });
}

BOOST_AUTO_TEST_CASE(fibers_have_names_and_unique_ids) {
  weft::test::run([] {
    BOOST_TEST(weft::this_fiber::name() == "main");
    const std::uint64_t main_id = weft::this_fiber::id();
    BOOST_TEST(main_id != 0u);
    std::string name;
    std::uint64_t id = 0;
    auto h = weft::spawn(
        [&] {
          name = std::string(weft::this_fiber::name());
          id = weft::this_fiber::id();
          weft::this_fiber::set_name("renamed");
          name += "/" + std::string(weft::this_fiber::name());
        },
        {.name = "worker-1"});
    const std::uint64_t handle_id = h.id();
    h.join();
    BOOST_TEST(name == "worker-1/renamed");
    BOOST_TEST(id == handle_id);
    BOOST_TEST(id != main_id);
    auto long_name = weft::spawn([] { return std::string(weft::this_fiber::name()); },
                                 {.name = std::string(100, 'x')});
    BOOST_TEST(long_name.join() == std::string(31, 'x'));
  });
  BOOST_TEST(weft::this_fiber::id() == 0u);  // outside any fiber
  BOOST_TEST(!weft::in_fiber());
}

BOOST_AUTO_TEST_CASE(misuse_is_reported_not_undefined) {
  BOOST_CHECK_THROW((void)weft::spawn([] {}), std::system_error);  // no runtime
  BOOST_CHECK_THROW(weft::yield(), std::logic_error);
  BOOST_CHECK_THROW(weft::sleep_for(1ms), std::logic_error);
  weft::test::run([] {
    weft::JoinHandle<int> empty;
    BOOST_CHECK_THROW(empty.join(), std::logic_error);
    // With several workers the fiber may start before `self` is set: it waits for it.
    std::atomic<weft::JoinHandle<void>*> self{nullptr};
    auto h = weft::spawn([&] {
      while (self.load() == nullptr) weft::yield();
      self.load()->join();
    });
    self.store(&h);
    BOOST_CHECK_THROW(h.join(), std::logic_error);  // it tried to join itself
    BOOST_CHECK_THROW((void)weft::spawn([] {}, {.stack_size = 64u << 20}), std::system_error);
  });
}

BOOST_AUTO_TEST_CASE(a_fiber_gets_its_stack_only_when_it_first_runs) {
  weft::test::run(
      [] {
        const auto before = weft::stats().stack_slots;
        std::vector<weft::JoinHandle<int>> hs;
        for (int i = 0; i < 10000; ++i) hs.push_back(weft::spawn([i] { return i; }));
        BOOST_TEST(weft::stats().stack_slots == before);  // nothing ran yet
        long sum = 0;
        for (auto& h : hs) sum += h.join();
        BOOST_TEST(sum == 10000L * 9999 / 2);
        // Each ran to the end before the next started: a handful of slots served all.
        BOOST_TEST(weft::stats().stack_slots - before <= 2u);
      },
      weft::test::one_worker());
}

BOOST_AUTO_TEST_CASE(a_shallow_fiber_costs_one_or_two_stack_pages) {
  weft::test::run([] {
    auto h = weft::spawn([] {
      weft::yield();  // parked once, like a fiber waiting for I/O
      return my_resident_pages();
    });
    const std::size_t pages = h.join();
    BOOST_TEST(pages >= 1u);
    BOOST_TEST(pages <= 2u);
  });
}

BOOST_AUTO_TEST_CASE(a_deep_stack_is_trimmed_when_its_fiber_ends) {
  weft::test::run(
      [] {
        const weft::Stats before = weft::stats();
        const auto trims_before = before.stack_trims;
        std::size_t deep_pages = 0;
        auto h = weft::spawn([&] {
          go_deep(160 << 10, [&] {
            weft::yield();  // the scheduler sees it deep
            deep_pages = my_resident_pages();
          });
        });
        h.join();
        BOOST_TEST(deep_pages >= 40u);
        BOOST_TEST(weft::stats().stack_trims == trims_before + 1);
        // The counters saw the pages come and go (the trim counts what
        // mincore found resident below the kept 16 KiB).
        const weft::Stats after = weft::stats();
        BOOST_TEST(after.stack_pages_committed - before.stack_pages_committed >= deep_pages);
        BOOST_TEST(after.stack_pages_trimmed - before.stack_pages_trimmed >= deep_pages - 4);
        // The next fiber reuses that stack and finds only the kept pages.
        auto next = weft::spawn([] { return my_resident_pages(); });
        BOOST_TEST(next.join() <= 4u);
      },
      weft::test::one_worker());
}

BOOST_AUTO_TEST_CASE(abandoned_fibers_count_the_pages_they_used_not_their_whole_stacks) {
  weft::Runtime rt(weft::test::options());
  weft::Event never;
  rt.run([&] {
    for (int i = 0; i < 20; ++i) weft::spawn([&] { (void)never.wait(); }).detach();
    weft::yield();  // they all park, shallow
  });
  // Each used a page or two of its 256 KiB (64 pages): abandoning them must
  // not count the rest.
  const weft::Stats s = rt.last_stats();
  BOOST_TEST(s.stack_pages_committed >= 20u);
  BOOST_TEST(s.stack_pages_committed <= 20u * 4 + 8);
}

BOOST_AUTO_TEST_CASE(a_fiber_may_ask_for_a_bigger_stack) {
  weft::test::run([] {
    auto h = weft::spawn(
        [] {
          go_deep(3 << 20, [] {});  // 3 MiB: would overflow the default 256 KiB
          return weft::fibers::Worker::current()->current_fiber()->stack.size;
        },
        {.stack_size = 4 << 20});
    BOOST_TEST(h.join() == 4u << 20);
  });
}

BOOST_AUTO_TEST_CASE(fibers_left_parked_when_main_returns_are_abandoned) {
  weft::JoinHandle<int> stuck;
  weft::Runtime rt(weft::test::options());
  rt.run([&] {
    stuck = weft::spawn([] {
      weft::Event never;
      (void)never.wait();
      return 1;
    });
    auto detached = weft::spawn([] { weft::sleep_for(1h); });
    detached.detach();
    weft::yield();
  });
  BOOST_TEST(rt.last_stats().fibers_live == 0u);
  BOOST_TEST(stuck.finished());
  try {
    stuck.join();
    BOOST_FAIL("joining an abandoned fiber should throw");
  } catch (const std::system_error& e) {
    BOOST_TEST((e.code() == std::errc::operation_canceled));
    BOOST_TEST(std::string(e.what()).find("runtime stopped") != std::string::npos);
  }
}

BOOST_AUTO_TEST_CASE(an_event_or_token_outliving_the_runtime_forgets_abandoned_waiters) {
  weft::Event event;
  weft::CancelToken token;
  weft::Runtime rt(weft::test::options());
  rt.run([&] {
    weft::spawn([&] { (void)event.wait(); }).detach();
    weft::spawn([&] {
      (void)event.wait({.deadline = weft::after(1h), .cancel = &token});
    }).detach();
    weft::yield();  // both are parked now
  });
  const auto wakeups = rt.last_stats().wakeups;
  // The waiters' stacks went back to the pool; nothing may point there now.
  event.set();
  token.cancel();
  BOOST_TEST(rt.last_stats().wakeups == wakeups);
  // The pool hands those stacks to new fibers, which must run undisturbed.
  BOOST_TEST(rt.run([] {
    auto a = weft::spawn([] { return 20; });
    auto b = weft::spawn([] { return 22; });
    return a.join() + b.join();
  }) == 42);
  BOOST_TEST(rt.last_stats().wakeups >= wakeups);
}

BOOST_AUTO_TEST_CASE(a_runtime_can_run_again) {
  weft::Runtime rt(weft::test::options());
  BOOST_TEST(rt.run([] { return 1; }) == 1);
  BOOST_TEST(rt.run([] {
    auto h = weft::spawn([] { return 2; });
    return h.join();
  }) == 2);
}

// A deadlock: tests/fibers/misuse_test.cc.

BOOST_AUTO_TEST_SUITE_END()
