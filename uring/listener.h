// Listener: the accept queue of one listening socket on the io_uring backend.
//
// One multishot accept request stays armed on the socket; each completion
// carries a new connection. Connections go straight to a fiber waiting in
// accept() if there is one, else into a short queue the next accept() takes
// from without entering the kernel. When the queue is full the multishot
// request is cancelled (the kernel's backlog holds further connections) and
// re-armed when accept() finds the queue empty. A failed attempt (EMFILE
// when the process is out of descriptors, say) goes to a waiting accept
// only; it is never queued, so it cannot outlive its cause. Where multishot accept is missing, the
// same code arms one single-shot accept at a time.
//
// Invariants
//   1. Owned by the Ring; created by open_listener(), given back by close().
//   2. While a request is armed (armed_) the kernel owes us a completion that
//      names this object, so it is deleted only when none is armed: close()
//      cancels the request and the final completion deletes it.
//   3. Waiting accepts are user-space waits: their deadline is a scheduler
//      timer and their cancellation unlinks them (end_wait).
//
// Thread rules: owner worker only.
#pragma once

#include <deque>

#include <weft/alloc/heap.h>
#include <weft/uring/operation.h>

namespace weft::uring {

class Ring;

class Listener : public alloc::HeapObject {
 public:
  Listener(Ring& ring, int fd);
  ~Listener();

  // An accept: completes `op` from the queue (returns true), or queues it
  // until a connection, its deadline or its cancellation (returns false).
  bool take(Operation& op);
  // Ends a queued accept with -error and readies its fiber.
  void end_wait(Operation& op, int error);
  void fail_waiters(int error);
  // A completion of the armed accept request.
  void on_completion(int res, unsigned flags);
  // The socket is being closed: fail waiters, close queued connections,
  // cancel the armed request; deletes this object now or on its completion.
  void close();

 private:
  friend class Ring;
  static constexpr std::size_t kMaxQueued = 256;

  void arm();
  void hand_over(Operation& op, int result);

  Ring& ring_;
  int fd_;
  bool armed_ = false;
  bool closing_ = false;
  bool multishot_;
  std::deque<int, alloc::Allocator<int>> queued_;  // accepted fds not yet taken
  Operation* waiters_ = nullptr;                   // first in, first served
  Operation* waiters_tail_ = nullptr;
  Listener* prev_ = nullptr;  // the ring's list of listeners
  Listener* next_ = nullptr;
};

}  // namespace weft::uring
