#include <weft/fibers/event.h>

#include <weft/fibers/result.h>
#include <weft/fibers/wait.h>

namespace weft {

struct Event::Node {
  Node(fibers::Worker& w, Event* e) : waiter(w), event(e) {}
  fibers::Waiter waiter;
  Event* event;
  Node* prev = nullptr;
  Node* next = nullptr;
  bool linked = false;  // guarded by the event's mutex
};

Event::~Event() {
  // Fibers still parked here were abandoned with their runtime; forget them.
  std::lock_guard<std::mutex> lock(mutex_);
  for (Node* n = waiters_; n != nullptr; n = n->next) n->linked = false;
}

void Event::set() {
  std::lock_guard<std::mutex> lock(mutex_);
  set_.store(true, std::memory_order_release);
  while (Node* n = waiters_) {
    waiters_ = n->next;
    if (waiters_ != nullptr)
      waiters_->prev = nullptr;
    else
      tail_ = nullptr;
    n->linked = false;
    n->waiter.wake(0);
  }
}

void Event::reset() {
  std::lock_guard<std::mutex> lock(mutex_);
  set_.store(false, std::memory_order_release);
}

void Event::unlink(Node* node) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!node->linked) return;
  if (node->prev != nullptr)
    node->prev->next = node->next;
  else
    waiters_ = node->next;
  if (node->next != nullptr)
    node->next->prev = node->prev;
  else
    tail_ = node->prev;
  node->linked = false;
}

std::error_code Event::wait(const WaitOptions& options) {
  fibers::Worker& w = fibers::require_fiber("weft::Event::wait");
  if (set_.load(std::memory_order_acquire)) return {};
  Node node(w, this);
  node.waiter.on_abandon(
      [](void* arg) {
        auto* n = static_cast<Node*>(arg);
        n->event->unlink(n);
      },
      &node);
  const int outcome = node.waiter.wait(
      options,
      [](fibers::Waiter&, void* arg) {
        auto* n = static_cast<Node*>(arg);
        Event* e = n->event;
        std::lock_guard<std::mutex> lock(e->mutex_);
        if (e->set_.load(std::memory_order_relaxed)) return false;
        n->prev = e->tail_;
        if (e->tail_ != nullptr)
          e->tail_->next = n;
        else
          e->waiters_ = n;
        e->tail_ = n;
        n->linked = true;
        return true;
      },
      &node);
  unlink(&node);
  return outcome == 0 ? std::error_code() : errno_error(outcome);
}

}  // namespace weft
