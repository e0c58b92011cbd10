// Thread rules checked, not only written (fibers/checks.h): in debug and
// sanitizer builds an owner-only call from another thread aborts with a
// message naming the object, the call and the owner, and an impossible
// fiber state change aborts naming both states. Elsewhere the checks are
// compiled out and these tests are skipped.
#include <thread>

#include <boost/test/unit_test.hpp>
#include <weft/fibers/fiber.h>
#include <weft/fibers/worker.h>
#include <weft/io/backend.h>

#include "support/child.h"
#include "support/runtime.h"

namespace {

bool checked() { return WEFT_CHECKED != 0; }

}  // namespace

BOOST_AUTO_TEST_SUITE(thread_rules)

BOOST_AUTO_TEST_CASE(a_backend_called_from_a_thread_that_does_not_own_it_aborts_and_says_why,
                     *weft::test::needs(checked, "a debug or sanitizer build (checks.h)")) {
  const auto r = weft::test::run_in_child([] {
    weft::test::run([] {
      weft::io::Backend* b = weft::io::current_backend();
      std::thread intruder([b] { b->close_in_background(-1); });
      intruder.join();
    });
  });
  BOOST_TEST(weft::test::crashed(r));
  BOOST_TEST(r.signal == SIGABRT);
  BOOST_TEST(r.err.find("::close_in_background called on a thread that does not own it") != std::string::npos,
             r.err);
}

BOOST_AUTO_TEST_CASE(a_worker_s_stack_pool_taken_from_another_thread_aborts_and_says_why,
                     *weft::test::needs(checked, "a debug or sanitizer build (checks.h)")) {
  const auto r = weft::test::run_in_child([] {
    weft::test::run([] {
      weft::fibers::Worker* w = weft::fibers::Worker::current();
      std::thread intruder([w] { (void)w->stacks(); });
      intruder.join();
    });
  });
  BOOST_TEST(r.signal == SIGABRT);
  BOOST_TEST(r.err.find("Worker::stacks called on a thread that does not own it") != std::string::npos,
             r.err);
}

BOOST_AUTO_TEST_CASE(an_impossible_fiber_state_change_aborts_and_names_both_states,
                     *weft::test::needs(checked, "a debug or sanitizer build (checks.h)")) {
  const auto r = weft::test::run_in_child([] {
    weft::fibers::Fiber f;
    f.become(weft::fibers::FiberState::running);
    f.become(weft::fibers::FiberState::finished);
    f.become(weft::fibers::FiberState::running);  // a finished fiber never runs again
  });
  BOOST_TEST(r.signal == SIGABRT);
  BOOST_TEST(r.err.find("cannot go from finished to running") != std::string::npos, r.err);
}

BOOST_AUTO_TEST_CASE(allowed_fiber_state_changes_are_the_documented_ones) {
  using S = weft::fibers::FiberState;
  using weft::fibers::may_become;
  BOOST_TEST(may_become(S::runnable, S::running));
  BOOST_TEST(may_become(S::running, S::parked));
  BOOST_TEST(may_become(S::parked, S::runnable));
  BOOST_TEST(!may_become(S::parked, S::running));    // woken first, then run
  BOOST_TEST(!may_become(S::finished, S::runnable));
}

BOOST_AUTO_TEST_SUITE_END()
