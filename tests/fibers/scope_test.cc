// Cancellation trees, CancelScope and TaskGroup: a parent's cancel reaches
// its children with its cause; a scope's deadline and token end every
// scoped wait inside it (the earlier deadline wins), but not the waits that
// cannot report an error; a group waits for all its children, and its first
// failure cancels the rest and is returned; nothing outlives the group. On
// one and on several workers.
#include <atomic>
#include <boost/test/unit_test.hpp>
#include <stdexcept>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "support/child.h"
#include "support/runtime.h"

using namespace std::chrono_literals;

BOOST_AUTO_TEST_SUITE(scopes)

BOOST_AUTO_TEST_CASE(a_parent_token_cancels_its_children_with_its_cause) {
  weft::CancelToken root;
  weft::CancelToken child(root);
  weft::CancelToken grandchild(child);
  weft::CancelToken other;
  BOOST_TEST(!grandchild.cancelled());
  BOOST_TEST(!grandchild.cause());
  root.cancel(weft::Error(std::make_error_code(std::errc::connection_reset), "peer 1"));
  BOOST_TEST(child.cancelled());
  BOOST_TEST(grandchild.cancelled());
  BOOST_TEST(!other.cancelled());
  BOOST_TEST((grandchild.cause() == std::errc::connection_reset));
  BOOST_TEST(grandchild.cause().message() == "peer 1: Connection reset by peer");
  // The first cause stays; a child made of a cancelled parent starts cancelled.
  root.cancel(weft::Error(std::make_error_code(std::errc::io_error)));
  BOOST_TEST((child.cause() == std::errc::connection_reset));
  weft::CancelToken late(root);
  BOOST_TEST(late.cancelled());
  BOOST_TEST((late.cause() == std::errc::connection_reset));
}

BOOST_AUTO_TEST_CASE(a_child_cancelled_alone_leaves_its_parent_alone) {
  weft::CancelToken root;
  {
    weft::CancelToken child(root);
    child.cancel();
    BOOST_TEST((child.cause() == std::errc::operation_canceled));
  }  // and a child gone first unhooks itself
  BOOST_TEST(!root.cancelled());
  root.cancel();
  BOOST_TEST(root.cancelled());
}

BOOST_AUTO_TEST_CASE(a_parent_cancelled_from_a_thread_ends_a_childs_wait) {
  weft::test::run([] {
    weft::CancelToken root;
    weft::CancelToken child(root);
    weft::Channel<int> ch;
    std::thread t([&] {
      std::this_thread::sleep_for(20ms);
      root.cancel();
    });
    auto r = ch.recv({.cancel = &child});
    t.join();
    BOOST_TEST((r.error() == std::errc::operation_canceled));
  });
}

BOOST_AUTO_TEST_CASE(a_scope_deadline_ends_every_scoped_wait_inside) {
  weft::test::run([] {
    weft::Channel<int> ch;
    weft::Event never;
    weft::Semaphore none(0);
    // [scope-deadline]
    weft::CancelScope scope({.deadline = weft::after(30ms)});
    const auto began = weft::Clock::now();
    auto r = ch.recv();  // no options of its own
    BOOST_TEST((r.error() == weft::errc::deadline_exceeded));
    BOOST_TEST((r.error() == std::errc::timed_out));  // the same, to code asking for a timeout
    // [/scope-deadline]
    BOOST_TEST((weft::Clock::now() - began >= 25ms));
    // Past the deadline, the others end at once.
    BOOST_TEST((never.wait() == std::errc::timed_out));
    BOOST_TEST((none.acquire() == std::errc::timed_out));
    BOOST_TEST((weft::sleep_for(1h, {}).error() == std::errc::timed_out));
    // A wait with scoped = false is not the scope's.
    none.release();
    BOOST_TEST(!none.acquire({.scoped = false}));
  });
}

BOOST_AUTO_TEST_CASE(the_earlier_deadline_wins_inside_or_out) {
  weft::test::run([] {
    weft::Event never;
    weft::CancelScope outer({.deadline = weft::after(40ms)});
    {
      weft::CancelScope inner({.deadline = weft::after(1h)});  // cannot extend the outer one
      BOOST_TEST((inner.deadline() == outer.deadline()));
      const auto began = weft::Clock::now();
      BOOST_TEST((never.wait({.deadline = weft::after(1h)}) == std::errc::timed_out));
      BOOST_TEST((weft::Clock::now() - began < 30min));
    }
    // A nearer deadline of the wait's own wins over the scope's.
    weft::CancelScope again({.deadline = weft::after(1h)});
    const auto began = weft::Clock::now();
    BOOST_TEST((never.wait({.deadline = weft::after(10ms), .scoped = true}) == std::errc::timed_out));
    BOOST_TEST((weft::Clock::now() - began < 30min));
  });
}

BOOST_AUTO_TEST_CASE(cancelling_a_scope_ends_waits_with_their_own_tokens_too) {
  weft::test::run([] {
    weft::CancelToken own;  // the wait's own token, unrelated to the scope
    weft::Channel<int> ch;
    weft::CancelScope scope;
    auto h = weft::spawn([&] {
      weft::sleep_for(20ms);
      scope.cancel(weft::Error(std::make_error_code(std::errc::timed_out), "the request"));
    });
    auto r = ch.recv({.cancel = &own});
    h.join();
    BOOST_TEST((r.error() == std::errc::operation_canceled));
    BOOST_TEST(!own.cancelled());
    BOOST_TEST(scope.token().cause().message() == "the request: Connection timed out");
    // Sticky: the next scoped wait fails at once, sleeps with options too.
    BOOST_TEST((ch.recv().error() == std::errc::operation_canceled));
    BOOST_TEST((weft::sleep_for(1h, {}).error() == std::errc::operation_canceled));
  });
}

BOOST_AUTO_TEST_CASE(waits_that_cannot_report_an_error_ignore_the_scope) {
  weft::test::run([] {
    weft::Mutex m;
    weft::CancelScope scope;
    scope.cancel();
    m.lock();
    auto h = weft::spawn([&] {
      weft::sleep_for(10ms);
      m.unlock();
    });
    m.lock();  // parks, cancelled scope or not, and gets the lock
    m.unlock();
    h.join();
    const auto began = weft::Clock::now();
    weft::sleep_for(10ms);  // a plain sleep sleeps
    BOOST_TEST((weft::Clock::now() - began >= 9ms));
  });
}

// Misuse that would leave waits obeying a dead frame ends the process with
// a message naming the rule, never a wait that quietly reads freed memory.
BOOST_AUTO_TEST_CASE(a_scope_ended_out_of_order_ends_the_process_saying_so) {
  const auto r = weft::test::run_in_child([] {
    weft::Runtime rt;
    rt.run([] {
      auto* outer = new weft::CancelScope;
      auto* inner = new weft::CancelScope;
      delete outer;  // while inner is still the fiber's scope
      delete inner;
    });
  });
  BOOST_TEST(!r.exited);
  BOOST_TEST(r.signal == SIGABRT);
  BOOST_TEST(r.err.find("weft: a weft::CancelScope ended out of order or on another fiber") !=
                 std::string::npos,
             r.err);
}

BOOST_AUTO_TEST_CASE(a_scope_ended_on_another_fiber_ends_the_process_saying_so) {
  const auto r = weft::test::run_in_child([] {
    weft::Runtime rt;
    rt.run([] {
      auto* scope = new weft::CancelScope;
      weft::spawn([scope] { delete scope; }).join();
    });
  });
  BOOST_TEST(!r.exited);
  BOOST_TEST(r.signal == SIGABRT);
  BOOST_TEST(r.err.find("CancelScope ended out of order or on another fiber") != std::string::npos,
             r.err);
}

BOOST_AUTO_TEST_CASE(a_scope_made_off_a_fiber_is_refused) {
  BOOST_CHECK_THROW(weft::CancelScope scope, std::logic_error);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(task_group)

BOOST_AUTO_TEST_CASE(wait_returns_when_every_child_has_ended) {
  weft::test::run([] {
    std::atomic<int> done{0};
    weft::TaskGroup group;
    for (int i = 0; i < 50; ++i) {
      group.spawn([&, i] {
        weft::sleep_for(std::chrono::milliseconds(i % 7));
        done.fetch_add(1);
      });
    }
    BOOST_TEST(group.running() <= 50u);
    BOOST_TEST(group.wait().has_value());
    BOOST_TEST(done.load() == 50);
    BOOST_TEST(group.running() == 0u);
  });
}

BOOST_AUTO_TEST_CASE(the_first_error_cancels_the_rest_and_is_returned) {
  weft::test::run([] {
    // [first-error]
    std::atomic<int> cancelled{0};
    weft::Channel<int> never;
    weft::TaskGroup group;
    for (int i = 0; i < 5; ++i) {
      group.spawn([&]() -> weft::Result<void> {
        auto r = never.recv();  // scoped: the group's cancel ends it
        if (r.error() == std::errc::operation_canceled) cancelled.fetch_add(1);
        return r.error();
      });
    }
    group.spawn([]() -> weft::Result<void> {
      weft::sleep_for(20ms);
      return weft::Error(std::make_error_code(std::errc::connection_refused), "connect db");
    });
    auto r = group.wait();
    BOOST_REQUIRE(!r);
    BOOST_TEST((r.error() == std::errc::connection_refused));
    BOOST_TEST(r.error().message() == "connect db: Connection refused");
    BOOST_TEST(cancelled.load() == 5);
    BOOST_TEST(group.cancelled());
    BOOST_TEST(group.token().cause().message() == "connect db: Connection refused");
    // [/first-error]
  });
}

BOOST_AUTO_TEST_CASE(a_child_that_throws_is_rethrown_by_wait_after_the_rest_end) {
  weft::test::run([] {
    std::atomic<bool> other_ended{false};
    weft::TaskGroup group;
    group.spawn([&] {
      (void)weft::sleep_for(1h, {});  // ended by the group's cancel
      other_ended = true;
    });
    group.spawn([] {
      weft::sleep_for(10ms);
      throw std::runtime_error("bad row 7");
    });
    BOOST_CHECK_EXCEPTION((void)group.wait(), std::runtime_error,
                          [](const std::runtime_error& e) { return std::string(e.what()) == "bad row 7"; });
    BOOST_TEST(other_ended.load());
    BOOST_TEST((group.token().cause() == weft::errc::uncaught_exception));
    BOOST_TEST(group.token().cause().message().find("bad row 7") != std::string::npos);
  });
}

BOOST_AUTO_TEST_CASE(a_group_deadline_ends_its_childrens_waits) {
  weft::test::run([] {
    weft::Event never;
    weft::TaskGroup group({.deadline = weft::after(30ms)});
    for (int i = 0; i < 3; ++i) group.spawn([&]() -> weft::Result<void> { return never.wait(); });
    const auto began = weft::Clock::now();
    auto r = group.wait();
    BOOST_TEST((r.error() == std::errc::timed_out));
    BOOST_TEST((weft::Clock::now() - began >= 25ms));
  });
}

BOOST_AUTO_TEST_CASE(a_group_obeys_its_parent_token_and_the_scope_it_is_made_in) {
  weft::test::run([] {
    weft::Event never;
    weft::CancelToken parent;
    weft::TaskGroup by_token({.cancel = &parent});
    by_token.spawn([&]() -> weft::Result<void> { return never.wait(); });
    parent.cancel();
    BOOST_TEST((by_token.wait().error() == std::errc::operation_canceled));

    weft::CancelScope scope;
    weft::TaskGroup in_scope;
    in_scope.spawn([&]() -> weft::Result<void> { return never.wait(); });
    auto h = weft::spawn([&] {
      weft::sleep_for(10ms);
      scope.cancel();
    });
    BOOST_TEST((in_scope.wait().error() == std::errc::operation_canceled));
    h.join();
  });
}

// "No child outlives the group" down to the fiber record: when wait()
// returns, no child still counts as live, on any worker, even when the
// children end on another worker a moment before the owner wakes.
BOOST_AUTO_TEST_CASE(no_child_fiber_is_live_once_wait_returns) {
  weft::test::run([] {
    for (int round = 0; round < 200; ++round) {
      const auto before = weft::stats().fibers_live;
      weft::TaskGroup group;
      for (int i = 0; i < 4; ++i) {
        group.spawn([] {
          for (int k = 0; k < 3; ++k) weft::yield();
        });
      }
      BOOST_TEST_REQUIRE(group.wait().has_value());
      BOOST_TEST_REQUIRE(weft::stats().fibers_live == before);
    }
  });
}

BOOST_AUTO_TEST_CASE(children_may_spawn_siblings_into_the_group) {
  weft::test::run([] {
    std::atomic<int> ran{0};
    weft::TaskGroup group;
    // A tree of spawns: 1 + 2 + 4 + 8 children.
    std::function<void(int)> grow = [&](int depth) {
      ran.fetch_add(1);
      if (depth == 0) return;
      for (int i = 0; i < 2; ++i) group.spawn([&grow, depth] { grow(depth - 1); });
      weft::yield();
    };
    group.spawn([&] { grow(3); });
    BOOST_TEST(group.wait().has_value());
    BOOST_TEST(ran.load() == 15);
  });
}

BOOST_AUTO_TEST_CASE(a_group_not_waited_for_cancels_and_waits_for_its_children) {
  weft::test::run([] {
    std::atomic<int> ended{0};
    weft::Channel<int> never;
    try {
      weft::TaskGroup group;
      for (int i = 0; i < 4; ++i) {
        group.spawn([&] {
          (void)never.recv();
          weft::sleep_for(5ms);  // after the cancel, still waited for
          ended.fetch_add(1);
        });
      }
      throw std::runtime_error("the owner gives up");
    } catch (const std::runtime_error&) {
    }
    BOOST_TEST(ended.load() == 4);  // none outlived the group
  });
}

BOOST_AUTO_TEST_CASE(spawn_and_wait_after_wait_returned_are_refused) {
  weft::test::run([] {
    weft::TaskGroup group;
    group.spawn([] {});
    BOOST_TEST(group.wait().has_value());
    BOOST_CHECK_EXCEPTION(group.spawn([] {}), std::logic_error, [](const std::logic_error& e) {
      return std::string(e.what()) == "weft::TaskGroup::spawn after the group's wait() returned";
    });
    BOOST_CHECK_EXCEPTION((void)group.wait(), std::logic_error, [](const std::logic_error& e) {
      return std::string(e.what()) == "weft::TaskGroup::wait called again after it returned";
    });
  });
  BOOST_CHECK_EXCEPTION((void)weft::TaskGroup().wait(), std::logic_error, [](const std::logic_error& e) {
    return std::string(e.what()).find("must be called from a weft fiber") != std::string::npos;
  });
}

BOOST_AUTO_TEST_CASE(a_second_fiber_waiting_on_a_group_is_refused) {
  weft::test::run([] {
    weft::TaskGroup group;
    weft::Event release;
    group.spawn([&] { (void)release.wait(); });
    auto first = weft::spawn([&] { return group.wait().has_value(); });
    weft::sleep_for(5ms);  // the first waiter is parked
    std::string second;
    try {
      (void)group.wait();
    } catch (const std::logic_error& e) {
      second = e.what();
    }
    BOOST_TEST(second == "weft::TaskGroup::wait called by two fibers");
    release.set();
    BOOST_TEST(first.join());
  });
}

BOOST_AUTO_TEST_CASE(an_empty_group_waits_for_nothing) {
  weft::test::run([] {
    weft::TaskGroup group;
    BOOST_TEST(group.wait().has_value());
  });
}

BOOST_AUTO_TEST_SUITE_END()
