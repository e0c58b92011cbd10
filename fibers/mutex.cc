#include <weft/fibers/mutex.h>

#include <weft/fibers/park.h>
#include <weft/fibers/result.h>

namespace weft {

Mutex::~Mutex() {
  // Fibers still parked here were abandoned with their runtime.
  std::lock_guard<std::mutex> g(guard_);
  waiters_.forget();
}

bool Mutex::try_lock() {
  std::uint32_t s = state_.load(std::memory_order_relaxed);
  while ((s & kLocked) == 0) {
    if (state_.compare_exchange_weak(s, s | kLocked, std::memory_order_acquire,
                                     std::memory_order_relaxed))
      return true;
  }
  return false;
}

void Mutex::lock() { (void)lock(WaitOptions{}); }

std::error_code Mutex::lock(const WaitOptions& options) {
  std::uint32_t s = 0;
  if (state_.compare_exchange_strong(s, kLocked, std::memory_order_acquire,
                                     std::memory_order_relaxed))
    return {};
  fibers::Worker& w = fibers::require_fiber("weft::Mutex::lock");
  // Under guard_: take the lock if it came free, else announce a waiter so
  // the holder's unlock() comes to guard_ and hands the lock over.
  auto must_wait = [this] {
    std::uint32_t st = state_.load(std::memory_order_relaxed);
    for (;;) {
      if ((st & kLocked) == 0) {
        if (state_.compare_exchange_weak(st, st | kLocked, std::memory_order_acquire,
                                         std::memory_order_relaxed))
          return false;
      } else if (state_.compare_exchange_weak(st, st | kWaiters, std::memory_order_relaxed,
                                              std::memory_order_relaxed)) {
        return true;
      }
    }
  };
  const int outcome = fibers::park(w, guard_, waiters_, must_wait, options);
  // 0: taken in must_wait, or handed over by unlock() (whose writes this
  // fiber sees through the waiter's outcome, released by the wake).
  if (outcome == 0) return {};
  std::lock_guard<std::mutex> g(guard_);
  if (waiters_.empty()) state_.fetch_and(~kWaiters, std::memory_order_relaxed);
  return errno_error(outcome);
}

void Mutex::unlock() {
  std::uint32_t s = kLocked;
  if (state_.compare_exchange_strong(s, 0, std::memory_order_release, std::memory_order_relaxed))
    return;
  std::lock_guard<std::mutex> g(guard_);
  if (waiters_.grant_one()) {
    // The lock stays taken: it now belongs to the woken fiber.
    if (waiters_.empty()) state_.store(kLocked, std::memory_order_release);
    return;
  }
  state_.store(0, std::memory_order_release);
}

}  // namespace weft
