// Misuse that used to hang or corrupt memory silently: a sync primitive
// destroyed while a fiber waits on it ends the process with a message
// naming the primitive and the waiting fiber. A primitive whose waiters
// were abandoned with their runtime may still be destroyed quietly.
#include <signal.h>

#include <boost/test/unit_test.hpp>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>

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
}

BOOST_AUTO_TEST_SUITE_END()
