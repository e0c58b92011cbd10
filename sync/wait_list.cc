#include <weft/sync/wait_in_list.h>

namespace weft::sync {

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

}  // namespace weft::sync
