#include <weft/fibers/event.h>

#include <weft/fibers/result.h>
#include <weft/fibers/wait.h>

namespace weft {

struct Event::Node {
  explicit Node(fibers::Worker& w) : waiter(w) {}
  fibers::Waiter waiter;
  Node* prev = nullptr;
  Node* next = nullptr;
  bool linked = false;
};

Event::~Event() {
  // Fibers still parked here were abandoned with their runtime; forget them.
  for (Node* n = waiters_; n != nullptr; n = n->next) n->linked = false;
}

void Event::set() {
  set_ = true;
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

void Event::unlink(Node* node) {
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
  if (set_) return {};
  Node node(w);
  node.prev = tail_;
  if (tail_ != nullptr)
    tail_->next = &node;
  else
    waiters_ = &node;
  tail_ = &node;
  node.linked = true;
  struct Unlink {
    Event* event;
    Node* node;
    ~Unlink() { event->unlink(node); }  // also when wait() throws
  } unlink{this, &node};
  node.waiter.on_abandon(
      [](void* arg) {
        auto* u = static_cast<Unlink*>(arg);
        u->event->unlink(u->node);
      },
      &unlink);
  const int outcome = node.waiter.wait(options);
  return outcome == 0 ? std::error_code() : errno_error(outcome);
}

}  // namespace weft
