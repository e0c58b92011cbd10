// weft/sync/event.h — a one-shot signal many fibers can wait for.
//
//   weft::Event ready;
//   ... in many fibers:  ready.wait();
//   ... in one fiber:    ready.set();   // wakes them all
//
// Once set, an Event stays set (wait() returns at once) until reset().
//
// Thread rules: any fiber on any worker may wait; any thread may set() or
// reset().
// Destroying it while a fiber waits on it ends the process with a message
// naming it and the waiting fiber (tests/fibers/misuse_test.cc); waits of
// fibers a finished run() abandoned do not count.
#pragma once

#include <atomic>
#include <mutex>
#include <system_error>

#include <weft/fibers/cancel.h>
#include <weft/sync/wait_list.h>

namespace weft {

class Event {
 public:
  Event() = default;
  ~Event();
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;

  // Sets the event and wakes every fiber waiting for it.
  void set();
  void reset();
  bool is_set() const { return set_.load(std::memory_order_acquire); }

  // Parks until the event is set. Returns an empty error_code when it is,
  // std::errc::timed_out or std::errc::operation_canceled otherwise.
  std::error_code wait(const WaitOptions& options = {});

 private:
  fibers::SpinLock mutex_;
  sync::WaitList waiters_;  // woken first in, first out; guarded by mutex_
  std::atomic<bool> set_{false};
};

}  // namespace weft
