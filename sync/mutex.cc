#include <weft/sync/mutex.h>

#include <weft/sync/wait_in_list.h>
#include <weft/fibers/result.h>

namespace weft {

namespace {
constexpr auto kStarvingAfter = std::chrono::milliseconds(1);
constexpr int kHandedOver = 1;  // WaitNode::note: the lock is already yours
constexpr int kSpins = 4;
}  // namespace

Mutex::~Mutex() {
  std::lock_guard<fibers::SpinLock> g(guard_);
  waiters_.check_unwaited("weft::Mutex", this);
}

bool Mutex::try_lock() {
  std::uint32_t s = state_.load(std::memory_order_relaxed);
  while ((s & (kLocked | kStarving)) == 0) {
    if (state_.compare_exchange_weak(s, s | kLocked, std::memory_order_acquire,
                                     std::memory_order_relaxed))
      return true;
  }
  return false;
}

std::error_code Mutex::lock(const WaitOptions& options) {
  std::uint32_t s = 0;
  if (state_.compare_exchange_strong(s, kLocked, std::memory_order_acquire,
                                     std::memory_order_relaxed))
    return {};
  return lock_slow(options);
}

std::error_code Mutex::lock_slow(const WaitOptions& options) {
  fibers::Worker& self = fibers::require_fiber("weft::Mutex::lock");
  // With several workers the holder may be running on another one and about
  // to unlock: spin briefly before parking (as Go does), unless other fibers
  // wait here for this worker.
  if (!self.scheduler().single()) {
    for (int spin = 0; spin < kSpins; ++spin) {
      for (int i = 0; i < 30; ++i) __builtin_ia32_pause();
      if (try_lock()) return {};
    }
  }
  const Deadline since = Clock::now();
  bool woken_before = false;
  for (;;) {
    // Under guard_: take the lock if it is free, else announce a waiter so
    // that unlock() comes to guard_.
    bool taken = false;
    auto must_wait = [this, &taken] {
      std::uint32_t st = state_.load(std::memory_order_relaxed);
      for (;;) {
        if ((st & kLocked) == 0) {
          if (state_.compare_exchange_weak(st, st | kLocked, std::memory_order_acquire,
                                           std::memory_order_relaxed)) {
            taken = true;
            return false;
          }
        } else if (state_.compare_exchange_weak(st, st | kWaiters, std::memory_order_relaxed,
                                                std::memory_order_relaxed)) {
          return true;
        }
      }
    };
    if (woken_before && Clock::now() - since > kStarvingAfter) {
      std::lock_guard<fibers::SpinLock> g(guard_);
      state_.fetch_or(kStarving, std::memory_order_relaxed);  // newcomers queue from now on
    }
    int note = 0;
    // This fiber's worker now: after a wake it may run on another one.
    fibers::Worker& w = *fibers::Worker::current();
    const int outcome =
        sync::wait_in_list(w, guard_, waiters_, must_wait, options, {"weft::Mutex::lock", this},
                           /*front=*/woken_before, &note);
    if (outcome != 0) {
      std::lock_guard<fibers::SpinLock> g(guard_);
      if (waiters_.empty()) state_.fetch_and(~(kWaiters | kStarving), std::memory_order_relaxed);
      return errno_error(outcome);
    }
    if (taken) return {};
    if (note == kHandedOver) {
      // Hand-offs cost a park and a wake per lock: leave that mode as soon
      // as a waiter got the lock quickly, or was the last (as Go does).
      // Otherwise fibers that lock again at once queue behind each other
      // for ever and the mode never ends.
      std::lock_guard<fibers::SpinLock> g(guard_);
      if (waiters_.empty() || Clock::now() - since < kStarvingAfter) {
        state_.fetch_and(~kStarving, std::memory_order_relaxed);
      }
      return {};
    }
    // Woken by unlock(), which freed the lock: compete for it.
    woken_before = true;
    if (try_lock()) return {};
  }
}

void Mutex::unlock_slow() {
  sync::WaitNode* woken;
  {
    std::lock_guard<fibers::SpinLock> g(guard_);
    woken = waiters_.claim_one();
    const std::uint32_t st = state_.load(std::memory_order_relaxed);
    if (woken != nullptr && (st & kStarving) != 0) {
      woken->note = kHandedOver;  // the lock stays taken: it is the woken fiber's now
      if (waiters_.empty()) state_.store(kLocked, std::memory_order_release);
    } else {
      state_.store(waiters_.empty() ? 0 : kWaiters, std::memory_order_release);
    }
  }
  sync::WaitList::finish(woken);
}

}  // namespace weft
