// Faults that end the process: run in a forked child and check its verdict.
#include <signal.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <cstdint>
#include <memory>
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

namespace {
struct sigaction g_before_reporter;
int g_reporter_calls = 0;
// A crash reporter that chains to whatever was installed before it.
void chaining_reporter(int sig, siginfo_t* info, void* context) {
  ++g_reporter_calls;
  const char line[] = "reporter called\n";
  (void)!write(STDERR_FILENO, line, sizeof line - 1);
  if (g_reporter_calls > 3) _exit(7);  // looping: stop the child, fail the test
  if ((g_before_reporter.sa_flags & SA_SIGINFO) != 0)
    g_before_reporter.sa_sigaction(sig, info, context);
}
}  // namespace

BOOST_AUTO_TEST_CASE(a_crash_reporter_that_chains_back_to_weft_does_not_loop) {
  const auto r = weft::test::run_in_child([] {
    { weft::Runtime first; }  // weft's handler goes in
    struct sigaction action {};
    action.sa_sigaction = chaining_reporter;
    action.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigaction(SIGSEGV, &action, &g_before_reporter);  // the reporter chains to weft's
    weft::Runtime second;  // weft re-installs itself, chaining to the reporter
    second.run([] {
      // Not null: UBSan would stop a null store before it faults.
      volatile std::uintptr_t unmapped = 64;
      *reinterpret_cast<volatile int*>(unmapped) = 1;
    });
  });
  BOOST_TEST(weft::test::crashed(r));
  BOOST_TEST(r.exit_code != 7, r.err);
  std::size_t calls = 0;
  for (std::size_t at = 0; (at = r.err.find("reporter called", at)) != std::string::npos; ++at)
    ++calls;
  BOOST_TEST(calls == 1u, r.err);
}

BOOST_AUTO_TEST_CASE(overflow_is_reported_after_another_runtime_on_the_thread_is_gone) {
  const auto r = weft::test::run_in_child([] {
    auto first = std::make_unique<weft::Runtime>();
    weft::Runtime second;
    first.reset();  // the thread's alternate signal stack must survive this
    second.run([] {
      auto h = weft::spawn([] { return recurse_forever(0); }, {.name = "survivor"});
      (void)h.join();
    });
  });
  BOOST_TEST(r.signal == SIGABRT);
  BOOST_TEST(r.err.find("weft: stack overflow in fiber survivor (#") != std::string::npos, r.err);
}

BOOST_AUTO_TEST_SUITE_END()
