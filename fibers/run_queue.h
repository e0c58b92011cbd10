// The run queue: fibers ready to run on one worker, first in first out.
//
// Intrusive (linked through Fiber::next), so queuing never allocates.
// Thread rules: owner worker only. (The multi-worker runtime replaces this
// with a bounded lock-free queue that other workers may steal from.)
#pragma once

#include <cstddef>

#include <weft/fibers/fiber.h>

namespace weft::fibers {

class RunQueue {
 public:
  bool empty() const { return head_ == nullptr; }
  std::size_t size() const { return size_; }

  void push_back(Fiber* f) {
    f->next = nullptr;
    if (tail_ != nullptr)
      tail_->next = f;
    else
      head_ = f;
    tail_ = f;
    ++size_;
  }

  Fiber* pop_front() {
    Fiber* f = head_;
    if (f == nullptr) return nullptr;
    head_ = f->next;
    if (head_ == nullptr) tail_ = nullptr;
    f->next = nullptr;
    --size_;
    return f;
  }

 private:
  Fiber* head_ = nullptr;
  Fiber* tail_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace weft::fibers
