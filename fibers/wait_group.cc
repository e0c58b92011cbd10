#include <weft/fibers/wait_group.h>

#include <stdexcept>

#include <weft/fibers/park.h>
#include <weft/fibers/result.h>

namespace weft {

WaitGroup::~WaitGroup() {
  std::lock_guard<std::mutex> g(guard_);
  waiters_.forget();
}

void WaitGroup::add(std::int64_t n) {
  const std::int64_t now = count_.fetch_add(n, std::memory_order_acq_rel) + n;
  if (now < 0) throw std::logic_error("weft::WaitGroup: counter went below zero");
  if (now > 0 || n == 0) return;
  // Zero: wake every waiter. A waiter re-checks the count under guard_
  // before it queues, so none is missed.
  std::lock_guard<std::mutex> g(guard_);
  (void)waiters_.grant_all();
}

std::error_code WaitGroup::wait(const WaitOptions& options) {
  if (count_.load(std::memory_order_acquire) == 0) return {};
  fibers::Worker& w = fibers::require_fiber("weft::WaitGroup::wait");
  auto must_wait = [this] { return count_.load(std::memory_order_acquire) != 0; };
  const int outcome = fibers::park(w, guard_, waiters_, must_wait, options);
  return outcome == 0 ? std::error_code() : errno_error(outcome);
}

}  // namespace weft
