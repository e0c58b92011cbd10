// Lists threaded through their nodes, for records that live elsewhere (a
// parked fiber's frame, a fiber record, an operation) and must be linked and
// unlinked in O(1) without allocating. Two shapes, one mechanism:
//   IntrusiveFifo         first-in, first-out, doubly linked: any node
//                         leaves in O(1) (waiters served in order);
//   IntrusiveQueue        first-in, first-out, singly linked through one
//                         named link: nodes leave from the front, several
//                         at a time (run queues, job queues), or one by a
//                         walk (an operation's wait on a descriptor);
//   link_front / unlink   a set kept as a head pointer, newest first, with
//                         links named by the node (a record on several
//                         lists: Fiber::all_prev/all_next, an operation's
//                         watch_prev/watch_next).
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

// A first-in, first-out queue threaded through one link of its nodes
// (`Next`, a member pointer; `next` unless told); nodes leave from the front,
// several at a time, or one from anywhere by a walk (remove: short lists,
// such as the operations waiting on one descriptor). It owns nothing; the
// lock of the object that holds it guards it and every node's link.
template <class Node, Node* Node::*Next = &Node::next>
class IntrusiveQueue {
 public:
  bool empty() const { return head_ == nullptr; }
  Node* front() const { return head_; }
  // Appends the chain first..last, linked through `Next` (last's is set).
  void append(Node* first, Node* last) {
    last->*Next = nullptr;
    (tail_ != nullptr ? tail_->*Next : head_) = first;
    tail_ = last;
  }
  void push_back(Node* n) { append(n, n); }
  // Puts the chain first..last (linked through `Next`) before the front.
  void prepend(Node* first, Node* last) {
    last->*Next = head_;
    if (head_ == nullptr) tail_ = last;
    head_ = first;
  }
  Node* pop_front() {
    Node* n = head_;
    if (n == nullptr) return nullptr;
    head_ = n->*Next;
    if (head_ == nullptr) tail_ = nullptr;
    n->*Next = nullptr;
    return n;
  }
  // Takes `n` out wherever it stands, walking from the front; false when it
  // is not on the queue.
  bool remove(Node* n) {
    Node* prev = nullptr;
    for (Node* o = head_; o != nullptr; prev = o, o = o->*Next) {
      if (o != n) continue;
      (prev != nullptr ? prev->*Next : head_) = n->*Next;
      if (tail_ == n) tail_ = prev;
      n->*Next = nullptr;
      return true;
    }
    return false;
  }
  // Takes up to `max` nodes from the front as a chain ending in null (null
  // when empty); *n says how many.
  template <class Count>
  Node* take(Count max, Count* n) {
    *n = 0;
    Node* first = head_;
    Node* last = nullptr;
    while (head_ != nullptr && *n < max) {
      last = head_;
      head_ = head_->*Next;
      ++*n;
    }
    if (head_ == nullptr) tail_ = nullptr;
    if (last != nullptr) last->*Next = nullptr;
    return *n == 0 ? nullptr : first;
  }

 private:
  Node* head_ = nullptr;
  Node* tail_ = nullptr;
};

// Puts `n` in front of the list that starts at `head`, linked through the
// node's members `Prev` and `Next` (member pointers).
template <auto Prev, auto Next, class Node>
inline void link_front(Node*& head, Node* n) {
  n->*Prev = nullptr;
  n->*Next = head;
  if (head != nullptr) head->*Prev = n;
  head = n;
}

// Takes `n`, which must be on it, off the list that starts at `head`, and
// clears its links.
template <auto Prev, auto Next, class Node>
inline void unlink(Node*& head, Node* n) {
  (n->*Prev != nullptr ? (n->*Prev)->*Next : head) = n->*Next;
  if (n->*Next != nullptr) (n->*Next)->*Prev = n->*Prev;
  n->*Prev = nullptr;
  n->*Next = nullptr;
}

}  // namespace weft::fibers
