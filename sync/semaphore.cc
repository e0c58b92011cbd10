#include <weft/sync/semaphore.h>

#include <weft/sync/wait_in_list.h>
#include <weft/fibers/result.h>

namespace weft {

Semaphore::~Semaphore() {
  std::lock_guard<fibers::SpinLock> g(guard_);
  waiters_.check_unwaited("weft::Semaphore", this);
}

bool Semaphore::try_acquire() {
  std::lock_guard<fibers::SpinLock> g(guard_);
  if (permits_ == 0) return false;
  --permits_;
  return true;
}

std::error_code Semaphore::acquire(const WaitOptions& options) {
  if (try_acquire()) return {};
  fibers::Worker& w = fibers::require_fiber("weft::Semaphore::acquire");
  // A permit that came free meanwhile is taken here instead of waiting.
  auto must_wait = [this] {
    if (permits_ == 0) return true;
    --permits_;
    return false;
  };
  const int outcome = sync::wait_in_list(w, guard_, waiters_, must_wait, options,
                                         {"weft::Semaphore::acquire", this});
  return outcome == 0 ? std::error_code() : errno_error(outcome);
}

void Semaphore::release(std::size_t n) {
  sync::WaitNode* woken = nullptr;
  {
    std::lock_guard<fibers::SpinLock> g(guard_);
    // Each claimed waiter owns one of the n permits; the rest are kept.
    for (; n > 0; --n) {
      sync::WaitNode* w = waiters_.claim_one();
      if (w == nullptr) break;
      w->next = woken;
      woken = w;
    }
    permits_ += n;
  }
  sync::WaitList::finish(woken);
}

std::size_t Semaphore::available() {
  std::lock_guard<fibers::SpinLock> g(guard_);
  return permits_;
}

}  // namespace weft
