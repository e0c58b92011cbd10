#include <weft/sync/wait_group.h>

#include <stdexcept>

#include <weft/sync/wait_in_list.h>
#include <weft/fibers/result.h>

namespace weft {

WaitGroup::~WaitGroup() {
  std::lock_guard<fibers::SpinLock> g(guard_);
  waiters_.check_unwaited("weft::WaitGroup", this);
}

void WaitGroup::add(std::int64_t n) {
  std::int64_t c = count_.load(std::memory_order_relaxed);
  for (;;) {
    if (c + n < 0) throw std::logic_error("weft::WaitGroup: counter went below zero");
    if (c + n != 0 || n == 0) {
      if (count_.compare_exchange_weak(c, c + n, std::memory_order_acq_rel)) return;
      continue;
    }
    // This call takes the count to zero: do it under the lock, so a waiter
    // that sees zero and passes through the lock knows no add() still
    // touches the group.
    sync::WaitNode* woken = nullptr;
    {
      std::lock_guard<fibers::SpinLock> g(guard_);
      if (!count_.compare_exchange_strong(c, 0, std::memory_order_acq_rel)) continue;
      woken = waiters_.claim_all();
    }
    sync::WaitList::finish(woken);
    return;
  }
}

std::error_code WaitGroup::wait(const WaitOptions& options) {
  if (count_.load(std::memory_order_acquire) == 0) {
    // Through the lock once: the add() that reached zero may still hold it,
    // and the group may be destroyed as soon as we return.
    std::lock_guard<fibers::SpinLock> pass(guard_);
    return {};
  }
  fibers::Worker& w = fibers::require_fiber("weft::WaitGroup::wait");
  auto must_wait = [this] { return count_.load(std::memory_order_acquire) != 0; };
  const int outcome =
      sync::wait_in_list(w, guard_, waiters_, must_wait, options, {"weft::WaitGroup::wait", this});
  return outcome == 0 ? std::error_code() : errno_error(outcome);
}

}  // namespace weft
