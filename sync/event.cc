#include <weft/sync/event.h>

#include <weft/sync/wait_in_list.h>
#include <weft/fibers/result.h>

namespace weft {

Event::~Event() {
  std::lock_guard<fibers::SpinLock> lock(mutex_);
  waiters_.check_unwaited("weft::Event", this);
}

void Event::set() {
  sync::WaitNode* woken;
  {
    std::lock_guard<fibers::SpinLock> lock(mutex_);
    set_.store(true, std::memory_order_release);
    woken = waiters_.claim_all();
  }
  sync::WaitList::finish(woken);
}

void Event::reset() {
  std::lock_guard<fibers::SpinLock> lock(mutex_);
  set_.store(false, std::memory_order_release);
}

std::error_code Event::wait(const WaitOptions& options) {
  fibers::Worker& w = fibers::require_fiber("weft::Event::wait");
  if (set_.load(std::memory_order_acquire)) {
    // Through the lock once: set() may still hold it, and the event may be
    // destroyed as soon as we return.
    std::lock_guard<fibers::SpinLock> pass(mutex_);
    return {};
  }
  auto must_wait = [this] { return !set_.load(std::memory_order_relaxed); };
  const int outcome =
      sync::wait_in_list(w, mutex_, waiters_, must_wait, options, {"weft::Event::wait", this});
  return outcome == 0 ? std::error_code() : errno_error(outcome);
}

}  // namespace weft
