// Test helpers: run a test body as the main fiber of a fresh runtime and
// check that it left no fiber behind.
#pragma once

#include <atomic>
#include <boost/test/unit_test.hpp>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include <weft/weft.h>

#include "support/skip.h"

namespace weft::test {

// Options for a test's runtime: WEFT_TEST_WORKERS workers (CTest runs the
// suites with 1 and with 2), the backend from WEFT_BACKEND.
inline RuntimeOptions options(RuntimeOptions o = {}) {
  if (o.workers == 0) {
    const char* w = std::getenv("WEFT_TEST_WORKERS");
    o.workers = w != nullptr ? static_cast<std::size_t>(std::atoi(w)) : 1;
  }
  return o;
}

// For tests that check an order only one worker guarantees.
inline RuntimeOptions one_worker(RuntimeOptions o = {}) {
  o.workers = 1;
  return o;
}

// For tests about several workers, whatever WEFT_TEST_WORKERS and
// WEFT_MODE say (the single-mode CTest entries run them as they are).
inline RuntimeOptions two_workers(RuntimeOptions o = {}) {
  o.workers = 2;
  o.mode = Mode::multi;
  return o;
}

// Spins the calling fiber, without yielding, until pred() holds or `limit`
// passes; returns whether it held. A fiber that spins keeps its worker busy,
// so with two workers whatever it waits for must run on the other one.
template <class Pred>
bool spin_until(Pred pred, Clock::duration limit = std::chrono::seconds(10)) {
  const Deadline give_up = Clock::now() + limit;
  while (!pred()) {
    if (Clock::now() > give_up) return false;
    __builtin_ia32_pause();
  }
  return true;
}

// Computes, never yielding, for `d`: a hog.
inline void spin_for(Clock::duration d) {
  const auto end = Clock::now() + d;
  volatile std::uint64_t work = 0;
  while (Clock::now() < end) work = work + 1;
}

// Keeps the other worker of a two-worker runtime busy until release(): a
// fiber spins there. Made by a fiber that then does not yield until it has
// placed what it wants on its own worker (the other one cannot steal
// meanwhile). Release before computing, join after: a join may move the
// joining fiber to the worker that ended the blocker.
class OtherWorkerBusy {
 public:
  OtherWorkerBusy()
      : fiber_(spawn([this] {
          running_.store(true);
          spin_until([this] { return released_.load(); });
        })) {
    // The maker does not yield, so the blocker starts on the other worker.
    spin_until([this] { return running_.load(); });
  }
  OtherWorkerBusy(const OtherWorkerBusy&) = delete;
  OtherWorkerBusy& operator=(const OtherWorkerBusy&) = delete;
  ~OtherWorkerBusy() { join(); }

  void release() { released_.store(true); }
  void join() {
    release();
    if (fiber_.joinable()) fiber_.join();
  }

 private:
  std::atomic<bool> running_{false};
  std::atomic<bool> released_{false};
  JoinHandle<void> fiber_;
};

// Runs `body` as the main fiber of a new runtime and returns what it returns.
// Fails the test if other fibers were still alive when body returned (they
// would be abandoned instead of finishing).
template <class F>
auto run(F&& body, RuntimeOptions runtime_options = {}) {
  Runtime rt(options(runtime_options));
  return rt.run([&]() -> decltype(auto) {
    struct Check {
      ~Check() {
        const auto live = weft::stats().fibers_live;
        BOOST_CHECK_MESSAGE(live == 1, "fibers left behind by the test: " << live - 1);
      }
    } check;
    return body();
  });
}

// The backend the suite runs on: CTest runs each I/O suite twice, with
// WEFT_BACKEND=uring and WEFT_BACKEND=epoll.
inline bool on_epoll() {
  const char* b = std::getenv("WEFT_BACKEND");
  return b != nullptr && std::string_view(b) == "epoll";
}

// Closing a descriptor ends the operations parked on it: always on epoll,
// on a ring where the kernel cancels by descriptor (Linux 5.19).
inline bool closing_cancels_waits() { return on_epoll() || weft::Runtime().features().cancel_fd; }

// For a test about the io_uring backend itself: labelled `ring` (CTest's
// epoll entries leave it out) and skipped if run on epoll all the same.
inline boost::unit_test::decorator::collector_t& ring_only() {
  return *boost::unit_test::label("ring") *
         needs([] { return !on_epoll(); }, "the io_uring backend (WEFT_BACKEND=uring)");
}

// In a child process: report a failed expectation and exit 1.
#define WEFT_CHILD_EXPECT(cond)                                                    \
  do {                                                                             \
    if (!(cond)) {                                                                 \
      std::fprintf(stderr, "child check failed: %s (line %d)\n", #cond, __LINE__); \
      std::_Exit(1);                                                               \
    }                                                                              \
  } while (0)

}  // namespace weft::test
