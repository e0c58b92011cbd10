#include <weft/fibers/park.h>

#include <sched.h>

namespace weft::fibers {

void SpinLock::lock_slow() noexcept {
  for (unsigned spins = 0;; ++spins) {
    if (!flag_.load(std::memory_order_relaxed) && !flag_.exchange(true, std::memory_order_acquire))
      return;
    if (spins < 64) {
      __builtin_ia32_pause();
    } else {
      sched_yield();  // the holder is probably not running: let it
    }
  }
}

WaitNode* WaitList::claim_one() {
  while (WaitNode* n = pop_front()) {
    if (n->waiter.claim(0)) {
      n->next = nullptr;  // a list of one, for finish()
      return n;
    }
  }
  return nullptr;
}

WaitNode* WaitList::claim_all() {
  WaitNode* first = nullptr;
  WaitNode** last = &first;  // kept in arrival order: woken first in, first out
  while (WaitNode* n = pop_front()) {
    if (n->waiter.claim(0)) {
      *last = n;
      last = &n->next;
    }
  }
  *last = nullptr;
  return first;
}

void WaitList::finish(WaitNode* claimed) {
  // One fiber may take the waker's next slot; several queue in order.
  const bool one = claimed != nullptr && claimed->next == nullptr;
  while (claimed != nullptr) {
    WaitNode* next = claimed->next;  // read first: once woken, the node may go
    claimed->waiter.finish_wake(one);
    claimed = next;
  }
}

}  // namespace weft::fibers
