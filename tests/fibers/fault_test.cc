// Faults that end the process: run in a forked child and check its verdict.
#include <signal.h>

#include <boost/test/unit_test.hpp>
#include <stdexcept>
#include <string>

#include "support/child.h"
#include "support/runtime.h"

namespace {

volatile bool g_keep_going = true;

// Recurses until the stack runs out (the flag hides that from the compiler).
[[gnu::noinline]] int recurse_forever(int depth) {
  volatile char frame[512];
  frame[0] = static_cast<char>(depth);
  if (!g_keep_going) return frame[0];
  return recurse_forever(depth + 1) + frame[0];
}

}  // namespace

BOOST_AUTO_TEST_SUITE(faults)

BOOST_AUTO_TEST_CASE(stack_overflow_names_the_fiber_and_aborts) {
  const auto r = weft::test::run_in_child([] {
    weft::Runtime rt;
    rt.run([] {
      auto h = weft::spawn([] { return recurse_forever(0); }, {.name = "deep-diver"});
      (void)h.join();
    });
  });
  BOOST_TEST(!r.exited);
  BOOST_TEST(r.signal == SIGABRT);
  BOOST_TEST(r.err.find("weft: stack overflow in fiber deep-diver (#") != std::string::npos, r.err);
  BOOST_TEST(r.err.find("), stack 256 KiB") != std::string::npos, r.err);
}

BOOST_AUTO_TEST_CASE(stack_overflow_reports_the_fibers_own_stack_size) {
  const auto r = weft::test::run_in_child([] {
    weft::Runtime rt;
    rt.run([] {
      auto h = weft::spawn([] { return recurse_forever(0); }, {.stack_size = 64 << 10});
      (void)h.join();
    });
  });
  BOOST_TEST(r.signal == SIGABRT);
  BOOST_TEST(r.err.find("weft: stack overflow in fiber (unnamed) (#") != std::string::npos, r.err);
  BOOST_TEST(r.err.find("), stack 64 KiB") != std::string::npos, r.err);
}

BOOST_AUTO_TEST_CASE(an_exception_escaping_a_detached_fiber_names_it_and_aborts) {
  const auto r = weft::test::run_in_child([] {
    weft::Runtime rt;
    rt.run([] {
      weft::spawn([] { throw std::runtime_error("nobody was listening"); }, {.name = "orphan"})
          .detach();
      weft::yield();
      weft::yield();
    });
  });
  BOOST_TEST(r.signal == SIGABRT);
  BOOST_TEST(
      r.err.find("weft: uncaught exception in detached fiber orphan (#") != std::string::npos,
      r.err);
  BOOST_TEST(r.err.find("): nobody was listening") != std::string::npos, r.err);
}

BOOST_AUTO_TEST_CASE(dropping_the_handle_of_a_failed_fiber_reports_it_too) {
  const auto r = weft::test::run_in_child([] {
    weft::Runtime rt;
    rt.run([] {
      auto h = weft::spawn([] { throw std::logic_error("unobserved"); }, {.name = "dropped"});
      weft::yield();  // it fails while the handle still exists
      h.detach();
    });
  });
  BOOST_TEST(r.signal == SIGABRT);
  BOOST_TEST(r.err.find("detached fiber dropped (#") != std::string::npos, r.err);
  BOOST_TEST(r.err.find("unobserved") != std::string::npos, r.err);
}

BOOST_AUTO_TEST_CASE(an_ordinary_crash_outside_fibers_is_not_reported_as_overflow) {
  const auto r = weft::test::run_in_child([] {
    weft::Runtime rt;
    rt.run([] {
      volatile int* nowhere = nullptr;
      *nowhere = 1;
    });
  });
  BOOST_TEST(weft::test::crashed(r));
  BOOST_TEST(r.err.find("stack overflow") == std::string::npos, r.err);
}

BOOST_AUTO_TEST_SUITE_END()
