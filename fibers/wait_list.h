// IntrusiveFifo: the list of parked waits inside every fiber sync primitive.
// WaitList: that list of WaitNodes, with the claim protocol below, behind
// Mutex, CondVar, Semaphore, WaitGroup and Event (Channel keeps its own kind
// of node in the same list). The nodes and park() are in fibers/park.h,
// inside the runtime.
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

// A first-in, first-out list threaded through its nodes, which carry `prev`,
// `next` and `linked`. It owns nothing; the lock of the object that holds it
// guards it and every node's links.
template <class Node>
class IntrusiveFifo {
 public:
  bool empty() const { return head_ == nullptr; }
  Node* front() const { return head_; }
  void push_back(Node* n) {
    n->prev = tail_;
    n->next = nullptr;
    (tail_ != nullptr ? tail_->next : head_) = n;
    tail_ = n;
    n->linked = true;
  }
  void push_front(Node* n) {
    n->prev = nullptr;
    n->next = head_;
    (head_ != nullptr ? head_->prev : tail_) = n;
    head_ = n;
    n->linked = true;
  }
  // No effect when `n` is not linked.
  void remove(Node* n) {
    if (!n->linked) return;
    (n->prev != nullptr ? n->prev->next : head_) = n->next;
    (n->next != nullptr ? n->next->prev : tail_) = n->prev;
    n->linked = false;
  }
  Node* pop_front() {
    Node* n = head_;
    if (n == nullptr) return nullptr;
    head_ = n->next;
    (head_ != nullptr ? head_->prev : tail_) = nullptr;
    n->linked = false;
    return n;
  }
  // Forgets every node without touching it (the runtime that parked them is
  // gone).
  void forget() {
    for (Node* n = head_; n != nullptr; n = n->next) n->linked = false;
    head_ = tail_ = nullptr;
  }

 private:
  Node* head_ = nullptr;
  Node* tail_ = nullptr;
};

struct WaitNode;

class WaitList : public IntrusiveFifo<WaitNode> {
 public:
  // Pops nodes until one's claim succeeds and returns it (null: none).
  WaitNode* claim_one();
  // Claims every node; returns them as a list for finish().
  WaitNode* claim_all();
  // Readies claimed nodes (one, or a claim_all() list). No lock held.
  static void finish(WaitNode* claimed);
};

}  // namespace weft::fibers
