#include <weft/uring/listener.h>

#include <unistd.h>

#include <cerrno>

#include <weft/uring/ring.h>

namespace weft::uring {

RingListener::RingListener(Ring& ring, int fd)
    : io::Listener(&ring), ring_(ring), fd_(fd), multishot_(ring.features().multishot_accept) {}

RingListener::~RingListener() {
  for (int fd : queued_) ::close(fd);
}

bool RingListener::take(io::Operation& op) {
  if (!queued_.empty()) {
    op.result = queued_.front();
    queued_.pop_front();
    return true;
  }
  if (op.options.deadline != kNoDeadline) {
    op.timer.op = &op;
    op.timer.deadline = op.options.deadline;
    op.timer.fire = [](fibers::Timer* t) {
      io::Operation* o = static_cast<io::Operation::Timer*>(t)->op;
      static_cast<RingListener*>(o->listener)->end_wait(*o, fibers::kDeadlineExceeded);
    };
    op.worker->timers().add(&op.timer);  // may throw: before anything is linked
  }
  op.queued = true;
  waiters_.push_back(&op);
  if (!armed_ && !arm()) flag_for_service();
  return false;
}

bool RingListener::arm() {
  io_uring_sqe* sqe = ring_.try_get_sqe();
  if (sqe == nullptr) return false;
  if (multishot_)
    io_uring_prep_multishot_accept(sqe, fd_, nullptr, nullptr, SOCK_CLOEXEC);
  else
    io_uring_prep_accept(sqe, fd_, nullptr, nullptr, SOCK_CLOEXEC);
  io_uring_sqe_set_data64(sqe, reinterpret_cast<std::uint64_t>(this) | Ring::kTagListener);
  ++ring_.in_flight_;
  armed_ = true;
  return true;
}

bool RingListener::service() {
  if (wants_cancel_) {
    if (!armed_) {
      wants_cancel_ = false;
    } else if (io_uring_sqe* sqe = ring_.try_get_sqe()) {
      io_uring_prep_cancel64(sqe, reinterpret_cast<std::uint64_t>(this) | Ring::kTagListener, 0);
      io_uring_sqe_set_data64(sqe, Ring::kTagIgnore);
      ++ring_.in_flight_;
      wants_cancel_ = false;
    }
  }
  if (wants_rearm_) {
    if (armed_ || waiters_.empty())
      wants_rearm_ = false;
    else if (arm())
      wants_rearm_ = false;
  }
  return !wants_cancel_ && !wants_rearm_;
}

void RingListener::flag_for_service() {
  wants_rearm_ = true;
  ring_.listeners_need_service_ = true;
}

void RingListener::hand_over(io::Operation& op, int result) {
  op.queued = false;
  op.worker->timers().remove(&op.timer);
  op.result = result;
  ring_.deliver(op);
}

void RingListener::end_wait(io::Operation& op, int error) {
  if (waiters_.remove(&op)) hand_over(op, -error);
}

void RingListener::fail_waiters(int error) {
  while (io::Operation* op = waiters_.pop_front()) hand_over(*op, -error);
}

void RingListener::on_completion(int res, unsigned flags) noexcept {
  if ((flags & IORING_CQE_F_MORE) == 0) armed_ = false;
  if (closing_) {
    if (res >= 0) ::close(res);
    if (!armed_) ring_.forget_closed(this);
    return;
  }
  if (res == -EINVAL && multishot_) {
    // The kernel refused multishot accept: fall back to one at a time.
    multishot_ = false;
    ring_.features_.multishot_accept = false;
    if (!waiters_.empty()) flag_for_service();
    return;
  }
  if (res == -ECANCELED && !armed_) {
    // We stopped it because the queue was full; accept() re-arms.
    if (!waiters_.empty()) flag_for_service();
    return;
  }
  if (io::Operation* op = waiters_.pop_front()) {
    hand_over(*op, res);
  } else if (res >= 0) {
    try {
      queued_.push_back(res);
    } catch (...) {
      ::close(res);  // out of memory: drop this connection, not the runtime
    }
  }
  // An error nobody waits for is dropped: it describes that attempt only.
  if (armed_ && queued_.size() >= kMaxQueued) {
    wants_cancel_ = true;
    ring_.listeners_need_service_ = true;
  } else if (!armed_ && !waiters_.empty()) {
    flag_for_service();
  }
}

}  // namespace weft::uring
