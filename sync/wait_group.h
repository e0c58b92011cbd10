// weft/sync/wait_group.h — wait for a group of fibers to finish.
//
//   weft::WaitGroup wg;
//   for (...) { wg.add(1); weft::spawn([&] { work(); wg.done(); }); }
//   wg.wait();
//
// As Go's sync.WaitGroup: a counter; wait() parks until it is zero. Taking
// it below zero is a bug and throws std::logic_error.
//
// Thread rules: add()/done() from any fiber or thread; wait() on a fiber.
// Destroying it while a fiber waits on it ends the process with a message
// naming it and the waiting fiber (tests/fibers/misuse_test.cc); waits of
// fibers a finished run() abandoned do not count.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <system_error>

#include <weft/fibers/cancel.h>
#include <weft/sync/wait_list.h>

namespace weft {

class WaitGroup {
 public:
  WaitGroup() = default;
  ~WaitGroup();
  WaitGroup(const WaitGroup&) = delete;
  WaitGroup& operator=(const WaitGroup&) = delete;

  void add(std::int64_t n);
  void done() { add(-1); }
  // Parks until the counter is zero. Empty error then, std::errc::timed_out
  // or operation_canceled if the wait ends first.
  std::error_code wait(const WaitOptions& options = {});
  std::int64_t count() const { return count_.load(std::memory_order_acquire); }

 private:
  std::atomic<std::int64_t> count_{0};
  fibers::SpinLock guard_;
  sync::WaitList waiters_;  // guarded by guard_
};

}  // namespace weft
