// WaitList: the FIFO of parked waits behind every fiber sync primitive
// (Mutex, CondVar, Semaphore, WaitGroup, Channel). The nodes and park() are
// in fibers/park.h, inside the runtime.
//
// Hand-off rule: a waker grants under the primitive's lock: it pops a node
// and wakes it. If the wake fails, that wait already ended by deadline or
// cancellation, so the waker gives what it was handing (a lock, a permit) to
// the next node instead. A granted waiter owns whatever was handed to it.
//
// Thread rules: every member is called with the owning primitive's lock held.
#pragma once

#include <cstddef>

namespace weft::fibers {

struct WaitNode;

class WaitList {
 public:
  bool empty() const { return head_ == nullptr; }
  void push_back(WaitNode* n);
  void remove(WaitNode* n);  // no effect when not linked
  // Pops nodes until one's wake(0) succeeds; false when none could be
  // woken. The granted node must not be touched afterwards: its fiber may
  // already be running on another worker.
  bool grant_one();
  // Wakes every node; returns how many were woken.
  std::size_t grant_all();
  // Forgets every node without touching its fiber (the runtime that parked
  // them is gone).
  void forget();

 private:
  WaitNode* pop_front();
  WaitNode* head_ = nullptr;
  WaitNode* tail_ = nullptr;
};

}  // namespace weft::fibers
