#include <weft/fibers/park.h>

namespace weft::fibers {

void WaitList::push_back(WaitNode* n) {
  n->prev = tail_;
  n->next = nullptr;
  if (tail_ != nullptr)
    tail_->next = n;
  else
    head_ = n;
  tail_ = n;
  n->linked = true;
}

void WaitList::remove(WaitNode* n) {
  if (!n->linked) return;
  if (n->prev != nullptr)
    n->prev->next = n->next;
  else
    head_ = n->next;
  if (n->next != nullptr)
    n->next->prev = n->prev;
  else
    tail_ = n->prev;
  n->linked = false;
}

WaitNode* WaitList::pop_front() {
  WaitNode* n = head_;
  if (n != nullptr) remove(n);
  return n;
}

bool WaitList::grant_one() {
  while (WaitNode* n = pop_front()) {
    if (n->waiter.wake(0)) return true;
  }
  return false;
}

std::size_t WaitList::grant_all() {
  std::size_t woken = 0;
  while (WaitNode* n = pop_front()) woken += n->waiter.wake(0) ? 1 : 0;
  return woken;
}

void WaitList::forget() {
  for (WaitNode* n = head_; n != nullptr; n = n->next) n->linked = false;
  head_ = tail_ = nullptr;
}

}  // namespace weft::fibers
