#include <weft/uring/listener.h>

#include <unistd.h>

#include <cerrno>

#include <weft/uring/ring.h>

namespace weft::uring {

Listener::Listener(Ring& ring, int fd)
    : ring_(ring), fd_(fd), multishot_(ring.features().multishot_accept) {}

Listener::~Listener() {
  for (int fd : queued_) {
    if (fd >= 0) ::close(fd);
  }
}

bool Listener::take(Operation& op) {
  if (!queued_.empty()) {
    op.result = queued_.front();
    queued_.pop_front();
    return true;
  }
  if (!armed_) arm();
  op.queued = true;
  op.next_waiter = nullptr;
  if (waiters_tail_ != nullptr)
    waiters_tail_->next_waiter = &op;
  else
    waiters_ = &op;
  waiters_tail_ = &op;
  if (op.options.deadline != kNoDeadline) {
    op.timer.deadline = op.options.deadline;
    op.timer.op = &op;
    op.timer.fire = [](fibers::Timer* t) {
      Operation* o = static_cast<Operation::Timer*>(t)->op;
      o->listener->end_wait(*o, ETIMEDOUT);
    };
    op.worker->timers().add(&op.timer);
  }
  return false;
}

void Listener::arm() {
  io_uring_sqe* sqe = ring_.get_sqe();
  if (multishot_)
    io_uring_prep_multishot_accept(sqe, fd_, nullptr, nullptr, SOCK_CLOEXEC);
  else
    io_uring_prep_accept(sqe, fd_, nullptr, nullptr, SOCK_CLOEXEC);
  io_uring_sqe_set_data64(sqe, reinterpret_cast<std::uint64_t>(this) | Ring::kTagListener);
  ++ring_.in_flight_;
  armed_ = true;
}

void Listener::hand_over(Operation& op, int result) {
  op.queued = false;
  op.worker->timers().remove(&op.timer);
  op.result = result;
  op.worker->ready(op.fiber);
}

void Listener::end_wait(Operation& op, int error) {
  Operation* prev = nullptr;
  for (Operation* o = waiters_; o != nullptr; prev = o, o = o->next_waiter) {
    if (o != &op) continue;
    if (prev != nullptr)
      prev->next_waiter = o->next_waiter;
    else
      waiters_ = o->next_waiter;
    if (waiters_tail_ == o) waiters_tail_ = prev;
    hand_over(op, -error);
    return;
  }
}

void Listener::fail_waiters(int error) {
  while (Operation* op = waiters_) {
    waiters_ = op->next_waiter;
    hand_over(*op, -error);
  }
  waiters_tail_ = nullptr;
}

void Listener::on_completion(int res, unsigned flags) {
  if ((flags & IORING_CQE_F_MORE) == 0) armed_ = false;
  if (closing_) {
    if (res >= 0) ::close(res);
    if (!armed_) delete this;
    return;
  }
  if (res == -EINVAL && multishot_) {
    // The kernel refused multishot accept: fall back to one at a time.
    multishot_ = false;
    ring_.features_.multishot_accept = false;
    if (waiters_ != nullptr) arm();
    return;
  }
  if (res == -ECANCELED && !armed_) {
    // We cancelled it because the queue was full; accept() re-arms.
    if (waiters_ != nullptr) arm();
    return;
  }
  if (Operation* op = waiters_) {
    waiters_ = op->next_waiter;
    if (waiters_ == nullptr) waiters_tail_ = nullptr;
    hand_over(*op, res);
  } else if (res >= 0) {
    queued_.push_back(res);
  }
  // An error nobody waits for is dropped: it describes that attempt only
  // (EMFILE, ENFILE, ...), and the next accept() re-arms and tries afresh.
  if (armed_ && queued_.size() >= kMaxQueued) {
    io_uring_prep_cancel64(ring_.fire_and_forget(),
                           reinterpret_cast<std::uint64_t>(this) | Ring::kTagListener, 0);
  } else if (!armed_ && waiters_ != nullptr) {
    arm();
  }
}

void Listener::close() {
  closing_ = true;
  fail_waiters(ECANCELED);
  for (int fd : queued_) {
    if (fd >= 0) ::close(fd);
  }
  queued_.clear();
  if (prev_ != nullptr)
    prev_->next_ = next_;
  else
    ring_.listeners_ = next_;
  if (next_ != nullptr) next_->prev_ = prev_;
  if (!armed_) {
    delete this;
    return;
  }
  io_uring_prep_cancel64(ring_.fire_and_forget(),
                         reinterpret_cast<std::uint64_t>(this) | Ring::kTagListener, 0);
}

}  // namespace weft::uring
