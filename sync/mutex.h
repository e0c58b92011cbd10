// weft/sync/mutex.h — a mutual-exclusion lock that parks fibers.
//
//   weft::Mutex m;
//   { std::lock_guard<weft::Mutex> g(m); ... }   // or std::unique_lock
//
// lock() parks the calling fiber, never the worker thread, so the worker runs
// other fibers meanwhile. Uncontended lock/unlock is one compare-and-swap
// each.
//
// Fairness, as Go's sync.Mutex: unlock() frees the lock and wakes the oldest
// waiter, which then competes for it with fibers arriving meanwhile (a
// running fiber that unlocks and locks again keeps going: no convoy of
// parks). A woken waiter that loses queues again at the front; once a waiter
// has waited more than 1 ms, unlock() hands the lock straight to the oldest
// waiter instead, so none starves, until a waiter gets the lock within 1 ms
// of asking or the queue has drained.
//
// Thread rules: lock() on a fiber of any worker; unlock() from the fiber that
// holds the lock (or code acting for it, such as CondVar). Not recursive.
// As with std::mutex, destroy it only once no fiber is inside lock() or
// unlock(): destroying it while a fiber waits in lock() ends the process
// with a message naming it and the waiting fiber
// (tests/fibers/misuse_test.cc); waits of fibers a finished run() abandoned
// do not count.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <system_error>

#include <weft/fibers/cancel.h>
#include <weft/fibers/spin_lock.h>
#include <weft/sync/wait_list.h>

namespace weft {

class Mutex {
 public:
  Mutex() = default;
  ~Mutex();
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  // Parks until the lock is this fiber's.
  void lock() {
    std::uint32_t s = 0;  // free, nobody waiting: one CAS, inline
    if (!state_.compare_exchange_strong(s, kLocked, std::memory_order_acquire,
                                        std::memory_order_relaxed)) [[unlikely]]
      (void)lock_slow(WaitOptions{.scoped = false});
  }
  // The same, giving up at the deadline (std::errc::timed_out) or on
  // cancellation (std::errc::operation_canceled); empty when locked.
  std::error_code lock(const WaitOptions& options);
  bool try_lock();
  void unlock() {
    std::uint32_t s = kLocked;  // nobody waiting: one CAS, inline
    if (!state_.compare_exchange_strong(s, 0, std::memory_order_release,
                                        std::memory_order_relaxed)) [[unlikely]]
      unlock_slow();
  }

 private:
  std::error_code lock_slow(const WaitOptions& options);
  void unlock_slow();
  static constexpr std::uint32_t kLocked = 1;
  static constexpr std::uint32_t kWaiters = 2;   // set while waiters_ is not empty
  static constexpr std::uint32_t kStarving = 4;  // hand the lock over; guarded by guard_
  std::atomic<std::uint32_t> state_{0};
  fibers::SpinLock guard_;
  sync::WaitList waiters_;  // guarded by guard_
};

}  // namespace weft
