// IntrusiveFifo: a first-in, first-out list threaded through its nodes, for
// records that live elsewhere (a parked fiber's frame, a fiber record) and
// must be linked and unlinked in O(1) without allocating.
//
// Thread rules: none of its own; the lock of the object that holds the list
// guards it and every node's links.
#pragma once

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

}  // namespace weft::fibers
