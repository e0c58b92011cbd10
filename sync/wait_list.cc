#include <weft/sync/wait_in_list.h>

#include <cstdio>
#include <cstdlib>

#include <weft/fibers/fiber.h>

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

void WaitList::check_unwaited(const char* primitive, const void* object) const noexcept {
  if (empty()) return;
  std::size_t waits = 0;
  for (const WaitNode* n = front(); n != nullptr; n = n->next) ++waits;
  destroyed_while_waited(primitive, object, waits, front()->waiter.fiber());
}

void destroyed_while_waited(const char* primitive, const void* object, std::size_t waits,
                            const fibers::Fiber* first) noexcept {
  char who[64];
  if (first == nullptr) {
    std::snprintf(who, sizeof who, "a plain thread");
  } else {
    std::snprintf(who, sizeof who, "fiber %s (#%llu)", first->name[0] != '\0' ? first->name : "(unnamed)",
                  static_cast<unsigned long long>(first->id));
  }
  std::fprintf(stderr,
               "weft: %s at %p destroyed while %zu wait%s parked on it (the first: %s); a sync primitive "
               "must outlive every wait on it\n",
               primitive, object, waits, waits == 1 ? " is" : "s are", who);
  std::abort();
}

}  // namespace weft::sync
