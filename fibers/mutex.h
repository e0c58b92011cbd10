// weft/fibers/mutex.h — a mutual-exclusion lock that parks fibers.
//
//   weft::Mutex m;
//   { std::lock_guard<weft::Mutex> g(m); ... }   // or std::unique_lock
//
// lock() parks the calling fiber, never the worker thread, so the worker runs
// other fibers meanwhile. Waiters get the lock in arrival order: unlock()
// hands it straight to the oldest waiter (no barging), so none starves.
// Uncontended lock/unlock is one compare-and-swap each.
//
// Thread rules: lock() on a fiber of any worker; unlock() from the fiber that
// holds the lock (or code acting for it, such as CondVar). Not recursive.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <system_error>

#include <weft/fibers/cancel.h>
#include <weft/fibers/wait_list.h>

namespace weft {

class Mutex {
 public:
  Mutex() = default;
  ~Mutex();
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  // Parks until the lock is this fiber's.
  void lock();
  // The same, giving up at the deadline (std::errc::timed_out) or on
  // cancellation (std::errc::operation_canceled); empty when locked.
  std::error_code lock(const WaitOptions& options);
  bool try_lock();
  void unlock();

 private:
  static constexpr std::uint32_t kLocked = 1;
  static constexpr std::uint32_t kWaiters = 2;  // set while waiters_ is not empty
  std::atomic<std::uint32_t> state_{0};
  std::mutex guard_;
  fibers::WaitList waiters_;  // guarded by guard_
};

}  // namespace weft
