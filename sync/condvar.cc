#include <weft/sync/condvar.h>

#include <weft/sync/wait_in_list.h>
#include <weft/fibers/result.h>

namespace weft {

CondVar::~CondVar() {
  std::lock_guard<fibers::SpinLock> g(guard_);
  waiters_.check_unwaited("weft::CondVar", this);
}

std::error_code CondVar::wait(std::unique_lock<Mutex>& lock, const WaitOptions& options) {
  fibers::Worker& w = fibers::require_fiber("weft::CondVar::wait");
  Mutex* m = lock.mutex();
  // must_wait runs after this fiber has switched out, under guard_: the wait
  // is queued there, and only then is the mutex released, so a notify_one()
  // by whoever takes the mutex next finds it.
  bool released = false;
  auto must_wait = [m, &released] {
    m->unlock();
    released = true;
    return true;
  };
  const int outcome =
      sync::wait_in_list(w, guard_, waiters_, must_wait, options, {"weft::CondVar::wait", this});
  // Not released: the wait ended before parking (deadline past, token
  // cancelled) and the mutex is still held.
  if (released) m->lock();
  return outcome == 0 ? std::error_code() : errno_error(outcome);
}

void CondVar::notify_one() {
  sync::WaitNode* woken;
  {
    std::lock_guard<fibers::SpinLock> g(guard_);
    woken = waiters_.claim_one();
  }
  sync::WaitList::finish(woken);
}

void CondVar::notify_all() {
  sync::WaitNode* woken;
  {
    std::lock_guard<fibers::SpinLock> g(guard_);
    woken = waiters_.claim_all();
  }
  sync::WaitList::finish(woken);
}

}  // namespace weft
