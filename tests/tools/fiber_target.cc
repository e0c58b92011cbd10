// A program for the debugger and profiler tests (gdb_check.sh,
// perf_check.sh): fibers with recognisable frames.
//
//   weft-test-fiber-target trap      # a fiber "digger" three calls deep
//                                    # raises SIGTRAP; "sleeper", "waiter"
//                                    # and "receiver" are parked meanwhile
//   weft-test-fiber-target compute N # a fiber "cruncher" computes for N ms
//                                    # in compute_in_fiber()
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <weft/weft.h>

extern "C" {
// C names: easy to find in gdb's and perf's output.
[[gnu::noinline]] void trap_in_fiber(int depth);
[[gnu::noinline]] void compute_in_fiber(long ms);
}

namespace {
volatile int sink = 0;
}

extern "C" void trap_in_fiber(int depth) {
  if (depth > 0) {
    trap_in_fiber(depth - 1);
    sink = sink + 1;  // not a tail call
    return;
  }
  std::raise(SIGTRAP);
  sink = sink + 1;
}

extern "C" void compute_in_fiber(long ms) {
  const auto end = weft::Clock::now() + std::chrono::milliseconds(ms);
  while (weft::Clock::now() < end) {
    for (int i = 0; i < 1000; ++i) sink = sink + i;
  }
}

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: weft-test-fiber-target trap | compute MS\n");
    return 2;
  }
  const bool trap = std::strcmp(argv[1], "trap") == 0;
  const long ms = argc > 2 ? std::atol(argv[2]) : 300;
  weft::RuntimeOptions o;
  o.workers = 1;
  o.hog_threshold = std::chrono::milliseconds(0);
  weft::Runtime rt(o);
  rt.run([&] {
    weft::Event never;
    weft::Channel<int> nothing;
    auto sleeper = weft::spawn([] { weft::sleep_for(std::chrono::seconds(3600)); }, {.name = "sleeper"});
    auto waiter = weft::spawn([&] { (void)never.wait(); }, {.name = "waiter"});
    auto receiver = weft::spawn([&] { (void)nothing.recv(); }, {.name = "receiver"});
    weft::yield();  // all three park
    if (trap) {
      weft::spawn([] { trap_in_fiber(3); }, {.name = "digger"}).join();
    } else {
      weft::spawn([ms] { compute_in_fiber(ms); }, {.name = "cruncher"}).join();
    }
    std::_Exit(0);  // the parked fibers never end
  });
}
