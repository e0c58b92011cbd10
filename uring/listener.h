// RingListener: the accept queue of one listening socket on the io_uring
// backend.
//
// One multishot accept request stays armed on the socket; each completion
// carries a new connection. Connections go straight to a fiber waiting in
// accept() if there is one, else into a short queue the next accept() takes
// from without entering the kernel. When the queue is full the multishot
// request is cancelled (the kernel's backlog holds further connections) and
// re-armed when accept() finds the queue empty. A failed attempt (EMFILE
// when the process is out of descriptors, say) goes to a waiting accept
// only; it is never queued, so it cannot outlive its cause. Where multishot
// accept is missing, the same code arms one single-shot accept at a time.
//
// Invariants
//   1. The socket (net::TcpListener) owns the object until it calls
//      Ring::close_listener(); from then on the Ring owns it.
//   2. While a request is armed (armed_) the kernel owes a completion that
//      names this object, so it is freed only when none is armed: closing
//      cancels the request and its final completion frees the object.
//   3. Completions never prepare SQEs (the queue may be full in the middle
//      of a submission); they flag the listener, and the Ring services
//      flagged listeners after each reap in poll().
//   4. Waiting accepts are user-space waits: their deadline is a scheduler
//      timer and their cancellation unlinks them (end_wait).
//
// Thread rules: owner worker only.
#pragma once

#include <deque>

#include <weft/fibers/intrusive_fifo.h>
#include <weft/io/backend.h>
#include <weft/io/operation.h>

namespace weft::uring {

class Ring;

class RingListener final : public io::Listener {
 public:
  RingListener(Ring& ring, int fd);
  ~RingListener() override;

  // An accept: completes `op` from the queue (returns true), or queues it
  // until a connection, its deadline or its cancellation (returns false).
  bool take(io::Operation& op);
  // Ends a queued accept with -error and readies its fiber.
  void end_wait(io::Operation& op, int error);
  void fail_waiters(int error);
  // A completion of the armed accept request. Never throws, never submits.
  void on_completion(int res, unsigned flags) noexcept;
  // After a reap: re-arm or cancel as the completions asked. Returns false
  // if it could not (no free SQE) and must be asked again.
  bool service();

 private:
  friend class Ring;
  static constexpr std::size_t kMaxQueued = 256;

  bool arm();
  void hand_over(io::Operation& op, int result);
  void flag_for_service();

  Ring& ring_;
  int fd_;
  bool armed_ = false;
  bool closing_ = false;  // the socket let go; freed at the final completion
  bool multishot_;
  bool wants_rearm_ = false;                       // flagged: arm again when someone waits
  bool wants_cancel_ = false;                      // flagged: the queue is full, stop the request
  std::deque<int, alloc::Allocator<int>> queued_;  // accepted fds not yet taken
  // Accepts waiting for a connection, first in, first served.
  fibers::IntrusiveQueue<io::Operation, &io::Operation::next_waiter> waiters_;
  RingListener* prev_ = nullptr;  // the ring's list (open or closing):
  RingListener* next_ = nullptr;  // fibers::link_front / unlink
};

}  // namespace weft::uring
