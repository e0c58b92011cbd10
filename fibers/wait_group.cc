#include <weft/fibers/wait_group.h>

#include <stdexcept>

#include <weft/fibers/park.h>
#include <weft/fibers/result.h>

namespace weft {

WaitGroup::~WaitGroup() {
  std::lock_guard<fibers::SpinLock> g(guard_);
  waiters_.forget();
}

void WaitGroup::add(std::int64_t n) {
  fibers::WaitNode* woken = nullptr;
  {
    // Under the lock, so a waiter that sees zero and passes through the
    // lock knows this call no longer touches the group.
    std::lock_guard<fibers::SpinLock> g(guard_);
    const std::int64_t now = count_.fetch_add(n, std::memory_order_acq_rel) + n;
    if (now < 0) throw std::logic_error("weft::WaitGroup: counter went below zero");
    if (now == 0 && n != 0) woken = waiters_.claim_all();
  }
  fibers::WaitList::finish(woken);
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
  const int outcome = fibers::park(w, guard_, waiters_, must_wait, options);
  return outcome == 0 ? std::error_code() : errno_error(outcome);
}

}  // namespace weft
