// WaitList: the FIFO of parked waits behind every fiber sync primitive
// (Mutex, CondVar, Semaphore, WaitGroup, Channel). The nodes and park() are
// in fibers/park.h, inside the runtime.
//
// Hand-off rule: a waker claims under the primitive's lock: it pops a node
// and claims its wait (Waiter::claim). If the claim fails, that wait already
// ended by deadline or cancellation, so the waker gives what it was handing
// (a permit, a value) to the next node instead. A claimed waiter owns
// whatever was handed to it. The waker readies the claimed fibers with
// finish() after releasing the lock: they cannot run before that, so they
// need not take the lock again, and the primitive may be destroyed as soon
// as one of them runs (the waker no longer touches it).
//
// Thread rules: every member but finish() is called with the owning
// primitive's lock held; finish() without it.
#pragma once

#include <cstddef>

#include <weft/fibers/spin_lock.h>

namespace weft::fibers {

struct WaitNode;

class WaitList {
 public:
  bool empty() const { return head_ == nullptr; }
  void push_back(WaitNode* n);
  void push_front(WaitNode* n);
  void remove(WaitNode* n);  // no effect when not linked
  WaitNode* front() const { return head_; }
  // Pops nodes until one's claim succeeds and returns it (null: none).
  WaitNode* claim_one();
  // Claims every node; returns them as a list for finish().
  WaitNode* claim_all();
  // Readies claimed nodes (one, or a claim_all() list). No lock held.
  static void finish(WaitNode* claimed);
  // Forgets every node without touching its fiber (the runtime that parked
  // them is gone).
  void forget();

 private:
  WaitNode* pop_front();
  WaitNode* head_ = nullptr;
  WaitNode* tail_ = nullptr;
};

}  // namespace weft::fibers
