// Misuse that used to hang or corrupt memory silently: a sync primitive
// destroyed while a fiber waits on it ends the process with a message
// naming the primitive and the waiting fiber. A primitive whose waiters
// were abandoned with their runtime may still be destroyed quietly. Every
// fiber parked with nothing able to wake it is reported on stderr after a
// while (RuntimeOptions::deadlock_report), listing what each waits in.
#include <signal.h>

#include <boost/test/unit_test.hpp>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>

#include "support/child.h"
#include "support/runtime.h"

using namespace std::chrono_literals;

namespace {

// In a child: `make()` a primitive on the heap, let a fiber named
// "the-waiter" park in `wait(primitive)`, then destroy the primitive under
// it. One worker: the waiter runs and parks before main's sleep ends.
template <class Make, class Wait>
void expect_abort_naming(const std::string& primitive, Make make, Wait wait) {
  const auto r = weft::test::run_in_child([&] {
    weft::test::run(
        [&] {
          auto p = make();
          auto* raw = p.get();
          auto h = weft::spawn([raw, &wait] { wait(*raw); }, {.name = "the-waiter"});
          weft::sleep_for(30ms);
          p.reset();  // ends the process
          h.join();
        },
        weft::test::one_worker());
  });
  BOOST_TEST_CONTEXT(primitive) {
    BOOST_TEST(r.signal == SIGABRT, r.err);
    BOOST_TEST(r.err.find("weft: " + primitive + " at ") != std::string::npos, r.err);
    BOOST_TEST(r.err.find("destroyed while 1 wait is parked on it") != std::string::npos, r.err);
    BOOST_TEST(r.err.find("fiber the-waiter") != std::string::npos, r.err);
  }
}

}  // namespace

BOOST_AUTO_TEST_SUITE(misuse)

BOOST_AUTO_TEST_CASE(a_mutex_destroyed_under_a_waiter_ends_the_process_naming_both) {
  // The waiter blocks on a mutex its creator holds: made locked.
  struct Locked {
    weft::Mutex m;
    Locked() { m.lock(); }
  };
  expect_abort_naming(
      "weft::Mutex", [] { return std::make_unique<Locked>(); }, [](Locked& l) { l.m.lock(); });
}

BOOST_AUTO_TEST_CASE(an_rw_mutex_destroyed_under_a_writer_or_reader_ends_the_process) {
  struct ReadLocked {
    weft::RWMutex m;
    ReadLocked() { m.lock_shared(); }
  };
  expect_abort_naming(
      "weft::RWMutex", [] { return std::make_unique<ReadLocked>(); }, [](ReadLocked& l) { l.m.lock(); });
  struct WriteLocked {
    weft::RWMutex m;
    WriteLocked() { m.lock(); }
  };
  expect_abort_naming(
      "weft::RWMutex", [] { return std::make_unique<WriteLocked>(); }, [](WriteLocked& l) { l.m.lock_shared(); });
}

BOOST_AUTO_TEST_CASE(a_condvar_destroyed_under_a_waiter_ends_the_process) {
  static weft::Mutex m;  // outlives the condition variable
  expect_abort_naming(
      "weft::CondVar", [] { return std::make_unique<weft::CondVar>(); },
      [](weft::CondVar& cv) {
        std::unique_lock<weft::Mutex> l(m);
        (void)cv.wait(l, {.deadline = weft::after(10s)});
      });
}

BOOST_AUTO_TEST_CASE(a_semaphore_wait_group_and_event_destroyed_under_a_waiter_end_the_process) {
  expect_abort_naming(
      "weft::Semaphore", [] { return std::make_unique<weft::Semaphore>(0); },
      [](weft::Semaphore& s) { (void)s.acquire({.deadline = weft::after(10s)}); });
  expect_abort_naming(
      "weft::WaitGroup",
      [] {
        auto wg = std::make_unique<weft::WaitGroup>();
        wg->add(1);
        return wg;
      },
      [](weft::WaitGroup& wg) { (void)wg.wait({.deadline = weft::after(10s)}); });
  expect_abort_naming(
      "weft::Event", [] { return std::make_unique<weft::Event>(); },
      [](weft::Event& e) { (void)e.wait({.deadline = weft::after(10s)}); });
}

// With a deadline this was a use-after-free: the timer fired into the
// freed channel.
BOOST_AUTO_TEST_CASE(a_channel_destroyed_under_a_receiver_sender_or_select_ends_the_process) {
  expect_abort_naming(
      "weft::Channel", [] { return std::make_unique<weft::Channel<int>>(); },
      [](weft::Channel<int>& ch) { (void)ch.recv({.deadline = weft::after(10s)}); });
  expect_abort_naming(
      "weft::Channel", [] { return std::make_unique<weft::Channel<int>>(); },
      [](weft::Channel<int>& ch) { (void)ch.send(1, {.deadline = weft::after(10s)}); });
  expect_abort_naming(
      "weft::Channel", [] { return std::make_unique<weft::Channel<int>>(); },
      [](weft::Channel<int>& ch) {
        std::optional<int> got;
        (void)weft::select({weft::recv_case(ch, got)}, {.deadline = weft::after(10s)});
      });
}

// run() returns once main does and abandons the fibers still parked; their
// waits are unlinked, so the primitives they waited on may go afterwards.
BOOST_AUTO_TEST_CASE(primitives_whose_waiters_were_abandoned_are_destroyed_quietly) {
  const auto r = weft::test::run_in_child([] {
    auto ch = std::make_unique<weft::Channel<int>>();
    auto m = std::make_unique<weft::Mutex>();
    weft::Runtime rt(weft::test::options());  // not test::run, which counts fibers left behind
    rt.run([&] {
      m->lock();
      weft::spawn([&] { (void)ch->recv(); }).detach();
      weft::spawn([&] { m->lock(); }).detach();
      weft::sleep_for(20ms);
    });
    ch.reset();
    m.reset();
  });
  BOOST_TEST(!weft::test::crashed(r), r.err);
}

// Outside a fiber, a call that needs one says which call it was.
BOOST_AUTO_TEST_CASE(calls_outside_a_fiber_name_themselves) {
  auto message_of = [](auto&& call) -> std::string {
    try {
      call();
    } catch (const std::logic_error& e) {
      return e.what();
    }
    return "(no exception)";
  };
  BOOST_TEST(message_of([] { weft::sleep_for(1ms); }) == "weft::sleep_for must be called from a weft fiber");
  BOOST_TEST(message_of([] { weft::sleep_until(weft::after(1ms)); }) ==
             "weft::sleep_until must be called from a weft fiber");
  BOOST_TEST(message_of([] { weft::yield(); }) == "weft::yield must be called from a weft fiber");
  BOOST_TEST(message_of([] { (void)weft::blocking([] { return 1; }); }) ==
             "weft::blocking must be called from a weft fiber");
  // A lock that would have to wait off a fiber (uncontended, it is a
  // compare-and-swap and needs none).
  weft::RWMutex rw;
  BOOST_TEST(rw.try_lock());
  BOOST_TEST(message_of([&] { rw.lock_shared(); }) == "weft::RWMutex::lock_shared must be called from a weft fiber");
  BOOST_TEST(message_of([&] { rw.lock(); }) == "weft::RWMutex::lock must be called from a weft fiber");
  rw.unlock();
}

namespace {

std::size_t occurrences(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (std::size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

// In a child: fibers park on an event and a mutex that only a plain thread
// can release (it sets the event after `quiet`); the report comes after
// 100 ms of that, once, and the run then ends normally.
weft::test::ChildResult report_of_a_quiet_spell(std::size_t workers, std::chrono::milliseconds quiet) {
  return weft::test::run_in_child([&] {
    weft::RuntimeOptions o;
    o.workers = workers;
    if (workers > 1) o.mode = weft::Mode::multi;  // whatever WEFT_MODE says
    o.deadlock_report = 100ms;
    weft::Event go;
    std::thread outside([&] {
      std::this_thread::sleep_for(quiet);
      go.set();
    });
    weft::test::run(
        [&] {
          weft::Mutex m;
          m.lock();
          auto h = weft::spawn([&] { std::lock_guard<weft::Mutex> g(m); }, {.name = "locker"});
          (void)go.wait();
          m.unlock();
          h.join();
        },
        o);
    outside.join();
  });
}

}  // namespace

BOOST_AUTO_TEST_CASE(every_fiber_parked_for_a_while_is_reported_once_with_what_each_waits_in) {
  for (std::size_t workers : {1, 2}) {
    BOOST_TEST_CONTEXT("workers " << workers) {
      const auto r = report_of_a_quiet_spell(workers, 600ms);
      BOOST_TEST(!weft::test::crashed(r), r.err);  // it went on once the thread woke it
      BOOST_TEST(occurrences(r.err, "every fiber has been parked for") == 1u, r.err);
      BOOST_TEST(r.err.find("(2 alive)") != std::string::npos, r.err);
      BOOST_TEST(r.err.find("'main' parked in weft::Event::wait (0x") != std::string::npos, r.err);
      BOOST_TEST(r.err.find("'locker' parked in weft::Mutex::lock (0x") != std::string::npos, r.err);
      BOOST_TEST(r.err.find("unless a thread outside the runtime will wake one") != std::string::npos, r.err);
    }
  }
}

BOOST_AUTO_TEST_CASE(a_spell_shorter_than_the_report_delay_is_not_reported) {
  const auto r = report_of_a_quiet_spell(1, 20ms);
  BOOST_TEST(!weft::test::crashed(r), r.err);
  BOOST_TEST(r.err.find("every fiber has been parked") == std::string::npos, r.err);
}

BOOST_AUTO_TEST_CASE(a_pending_timer_or_operation_is_no_deadlock) {
  const auto r = weft::test::run_in_child([] {
    weft::RuntimeOptions o;
    o.deadlock_report = 20ms;
    weft::test::run(
        [] {
          weft::Event never;
          auto h = weft::spawn([&] { (void)never.wait({.deadline = weft::Clock::now() + 200ms}); });
          weft::sleep_for(150ms);
          h.join();
        },
        o);
  });
  BOOST_TEST(!weft::test::crashed(r), r.err);
  BOOST_TEST(r.err.find("every fiber has been parked") == std::string::npos, r.err);
}

BOOST_AUTO_TEST_CASE(detect_deadlock_throws_the_listing_at_once) {
  weft::RuntimeOptions asked;
  asked.detect_deadlock = true;
  weft::Runtime rt(weft::test::options(asked));
  try {
    rt.run([] {
      weft::Channel<int> never(0);
      (void)never.recv();
    });
    BOOST_FAIL("run should have thrown");
  } catch (const std::runtime_error& e) {
    const std::string what = e.what();
    BOOST_TEST(what.find("deadlock") != std::string::npos, what);
    BOOST_TEST(what.find("'main' parked in weft::Channel::recv (0x") != std::string::npos, what);
  }
}

BOOST_AUTO_TEST_SUITE_END()
