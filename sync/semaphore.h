// weft/sync/semaphore.h — a counting semaphore that parks fibers.
//
//   weft::Semaphore slots(8);         // at most 8 at once
//   slots.acquire(); ...; slots.release();
//
// release() hands a permit straight to the oldest waiter, so waiters are
// served in arrival order.
//
// Thread rules: acquire() on a fiber of any worker; try_acquire() and
// release() from any fiber or thread.
// Destroying it while a fiber waits on it ends the process with a message
// naming it and the waiting fiber (tests/fibers/misuse_test.cc); waits of
// fibers a finished run() abandoned do not count.
#pragma once

#include <cstddef>
#include <mutex>
#include <system_error>

#include <weft/fibers/cancel.h>
#include <weft/sync/wait_list.h>

namespace weft {

class Semaphore {
 public:
  explicit Semaphore(std::size_t permits = 0) : permits_(permits) {}
  ~Semaphore();
  Semaphore(const Semaphore&) = delete;
  Semaphore& operator=(const Semaphore&) = delete;

  // Parks until a permit is this fiber's. Empty error when acquired,
  // std::errc::timed_out or operation_canceled otherwise (no permit taken).
  std::error_code acquire(const WaitOptions& options = {});
  bool try_acquire();
  void release(std::size_t n = 1);
  // Permits free now (a hint: it may change at once).
  std::size_t available();

 private:
  fibers::SpinLock guard_;
  std::size_t permits_;       // guarded by guard_
  sync::WaitList waiters_;  // guarded by guard_; non-empty only while permits_ == 0
};

}  // namespace weft
