#include <weft/uring/ring.h>

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <thread>

#include <weft/faults/faults.h>
#include <weft/io/timespec.h>
#include <weft/uring/listener.h>
#include <weft/fibers/probes.h>

// Newer than Debian 12's liburing 2.3 headers; probed at run time.
#ifndef IORING_SQ_TASKRUN
#define IORING_SQ_TASKRUN (1U << 2)
#endif
// io_uring_register(2) with fd -1 ("blind") and this opcode runs one
// MSG_RING request given as an SQE, with no source ring (Linux 6.13).
constexpr unsigned kRegisterSendMsgRing = 31;
// IORING_OP_WAITID (Linux 6.7): waitid(2) as a request; the SQE carries the
// id in fd, the id type in len, the options in file_index, siginfo in addr2.
constexpr unsigned kOpWaitid = 50;
constexpr unsigned kIdPidfd = 3;  // P_PIDFD

namespace weft::uring {
namespace {

// A linked timeout's own result: -ETIME when it fired and cancelled its
// request, -ECANCELED when the request finished first. A waitid (and a
// futex wait) cancelled by it reports how many requests it cancelled (1).
bool timeout_fired(int res) { return res == -ETIME || res > 0; }

bool kernel_at_least(int major, int minor) {
  utsname u{};
  if (uname(&u) != 0) return false;
  int ma = 0, mi = 0;
  if (std::sscanf(u.release, "%d.%d", &ma, &mi) != 2) return false;
  return ma > major || (ma == major && mi >= minor);
}


}  // namespace

// ---- set-up ----------------------------------------------------------------------

Result<std::unique_ptr<Ring>> Ring::create(const RingOptions& options) {
  std::unique_ptr<Ring> ring(new Ring);
  ring->options_ = options;
  ring->wants_park_commits = options.shared_reaping;  // see prepared_tail_
  // Best first; each later set drops one optional flag.
  const unsigned base = IORING_SETUP_SUBMIT_ALL;
  unsigned candidates[5];
  unsigned n = 0;
  if (options.defer_taskrun && options.single_issuer && !options.shared_reaping) {
    candidates[n++] =
        base | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_TASKRUN_FLAG;
  }
  // A ring another thread may rescue is submitted to by that thread too
  // (submit_prepared): no SINGLE_ISSUER.
  if (options.single_issuer && !options.shared_reaping) {
    candidates[n++] =
        base | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG;
  }
  candidates[n++] = base | IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG;
  candidates[n++] = base;
  candidates[n++] = 0;
  int rc = -EINVAL;
  for (unsigned i = 0; i < n; ++i) {
    io_uring_params params{};
    params.flags = candidates[i] | IORING_SETUP_CQSIZE;
    params.cq_entries = options.entries * 2;
    rc = io_uring_queue_init_params(options.entries, &ring->ring_, &params);
    if (rc == 0) {
      ring->features_.setup_flags = params.flags & ~IORING_SETUP_CQSIZE;
      ring->features_.sq_entries = params.sq_entries;
      ring->features_.cq_entries = params.cq_entries;
      ring->features_.ext_arg = (params.features & IORING_FEAT_EXT_ARG) != 0;
      ring->features_.nodrop = (params.features & IORING_FEAT_NODROP) != 0;
      ring->features_.fast_poll = (params.features & IORING_FEAT_FAST_POLL) != 0;
      break;
    }
    // Only an unknown flag (EINVAL) is worth a plainer retry; ENOSYS, EPERM
    // or ENOMEM will not change with fewer flags.
    if (rc != -EINVAL) break;
  }
  if (rc != 0) return errno_error(-rc);
  ring->ready_ = true;
  ring->probe();
  if (options.provided_buffers != 0) {
    ring->pbufs_ = ProvidedBuffers::create(&ring->ring_, options.provided_buffers, 16 << 10, 0);
    ring->features_.provided_buffers = ring->pbufs_ != nullptr;
  }
  if (options.wake != WakeMechanism::eventfd && ring->set_up_msg_wake()) return ring;
  ring->wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (ring->wake_fd_ < 0) return errno_error(errno);
  ring->arm_wake();
  return ring;
}

// Probes ring-less MSG_RING by waking ourselves: the kernel either refuses
// the register opcode (EINVAL before 6.13) or posts a kTagWake completion,
// which the first poll consumes like any other wake-up.
bool Ring::set_up_msg_wake() {
  if (!wake_flag_.claim()) return false;
  if (!send_msg_wake()) {
    wake_flag_.undo();
    return false;
  }
  msg_wake_ = true;
  features_.msg_ring_wake = true;
  return true;
}

bool Ring::send_msg_wake() const {
  io_uring_sqe sqe{};
  io_uring_prep_msg_ring(&sqe, ring_.ring_fd, 0, kTagWake, 0);
  return syscall(__NR_io_uring_register, -1, kRegisterSendMsgRing, &sqe, 1) == 0;
}

void Ring::probe() {
  const unsigned f = features_.setup_flags;
  features_.single_issuer = (f & IORING_SETUP_SINGLE_ISSUER) != 0;
  features_.defer_taskrun = (f & IORING_SETUP_DEFER_TASKRUN) != 0;
  features_.coop_taskrun = (f & IORING_SETUP_COOP_TASKRUN) != 0;
  features_.taskrun_flag = (f & IORING_SETUP_TASKRUN_FLAG) != 0;
  features_.submit_all = (f & IORING_SETUP_SUBMIT_ALL) != 0;
  if (io_uring_probe* p = io_uring_get_probe_ring(&ring_)) {
    features_.msg_ring = io_uring_opcode_supported(p, IORING_OP_MSG_RING);
    features_.send_zc = io_uring_opcode_supported(p, IORING_OP_SEND_ZC);
    features_.waitid = options_.waitid && io_uring_opcode_supported(p, static_cast<int>(kOpWaitid));
    io_uring_free_probe(p);
  }
  // No opcode tells these apart; both arrived in 5.19. A kernel that says
  // yes but refuses the first multishot accept is caught in Listener.
  const bool v519 = kernel_at_least(5, 19);
  features_.multishot_accept = options_.multishot_accept && v519;
  features_.cancel_fd = v519;
  enter_fd_ = ring_.ring_fd;
  if (options_.register_ring_fd && io_uring_register_ring_fd(&ring_) == 1) {
    features_.registered_ring_fd = true;
    enter_fd_ = ring_.enter_ring_fd;
    enter_flags_ = IORING_ENTER_REGISTERED_RING;
  }
}

Ring::~Ring() {
  if (ready_) {
    Stats ignored;
    drain(ignored);  // queued closes reach the kernel; closed listeners get their final CQE
  }
  while (RingListener* l = closing_listeners_) {
    closing_listeners_ = l->next_;
    delete l;
  }
  // Sockets still open keep their listener objects; tell them this ring is gone.
  for (RingListener* l = open_listeners_; l != nullptr; l = l->next_) {
    l->backend_ = nullptr;
    l->armed_ = false;
  }
  if (ready_) io_uring_queue_exit(&ring_);
  if (wake_fd_ >= 0) ::close(wake_fd_);
}

void Ring::arm_wake() {
  io_uring_sqe* sqe = try_get_sqe();
  if (sqe == nullptr) return;  // next poll
  io_uring_prep_read(sqe, wake_fd_, &wake_value_, sizeof wake_value_, 0);
  io_uring_sqe_set_data64(sqe, kTagWake);
  wake_armed_ = true;
}

void Ring::wake() {
  if (!wake_flag_.claim()) return;  // one is on its way
  if (!msg_wake_) {
    const std::uint64_t one = 1;
    (void)!::write(wake_fd_, &one, sizeof one);
    return;
  }
  // MSG_RING fails only when the kernel is short of memory for the
  // completion (ENOMEM); a lost wake-up could leave the worker asleep.
  for (int attempt = 0; attempt < 1000; ++attempt) {
    if (send_msg_wake()) return;
    std::this_thread::yield();
  }
  std::fprintf(stderr, "weft: cannot wake a worker with MSG_RING (%s)\n", std::strerror(errno));
  std::abort();
}

// ---- submission ------------------------------------------------------------------

void Ring::reserve(unsigned n) {
  // The queue filled up before the round ended: hand it over now.
  for (int attempt = 0; io_uring_sq_space_left(&ring_) < n; ++attempt) (void)push_sqes(attempt);
}

// One attempt to hand the kernel every SQE filled so far, without waiting;
// true once it has them all. The kernel may refuse for a moment (-EINTR;
// -EBUSY while completions back up; -EAGAIN short of memory) or take only
// some: what it did not take stays in the SQ, and completions are taken out
// before the caller tries again. Anything else, or 10,000 attempts, is fatal.
bool Ring::push_sqes(int attempt) {
  const unsigned to_submit = publish_sq();
  if (to_submit == 0) return true;
  const int rc = enter(to_submit, 0, features_.defer_taskrun ? IORING_ENTER_GETEVENTS : 0, kNoDeadline);
  if (rc == static_cast<int>(to_submit)) return true;
  if (rc < 0 && rc != -EINTR && rc != -EBUSY && rc != -EAGAIN) fail_submission(rc);
  reap();
  if (attempt >= 10000) fail_submission(rc < 0 ? rc : -EBUSY);
  return false;
}

// The round's enter failed: what it was to submit stays in the SQ for the
// next poll. What the kernel says for a moment is counted and retried;
// anything else means the ring itself is broken (a weft bug), and going on
// could lose completions: stop, saying so.
void Ring::enter_failed(int rc, Stats& stats) {
  if (rc == -EINTR || rc == -EAGAIN || rc == -EBUSY) {
    ++stats.poll_failures;
    return;
  }
  std::fprintf(stderr, "weft: io_uring_enter failed (%s); %zu requests in flight\n", std::strerror(-rc),
               in_flight_);
  std::abort();
}

void Ring::fail_stray_completion(const io::Operation* op) {
  std::fprintf(stderr, "weft: io_uring completion for operation %p, which expected none more\n",
               static_cast<const void*>(op));
  std::abort();
}

void Ring::fail_submission(int rc) {
  std::fprintf(stderr,
               "weft: the kernel will not take this worker's io_uring submissions (%s); "
               "%zu requests in flight\n",
               std::strerror(-rc), in_flight_);
  std::abort();
}

io_uring_sqe* Ring::get_sqe() {
  reserve(1);
  return io_uring_get_sqe(&ring_);
}

io_uring_sqe* Ring::fire_and_forget() {
  io_uring_sqe* sqe = get_sqe();
  io_uring_sqe_set_data64(sqe, kTagIgnore);
  ++in_flight_;
  return sqe;
}

void Ring::prepare(io_uring_sqe* sqe, io::Operation& op) {
  switch (op.kind) {
    case io::OpKind::nop:
      io_uring_prep_nop(sqe);
      break;
    case io::OpKind::read:
      io_uring_prep_read(sqe, op.fd, op.buf, op.len, op.offset);
      break;
    case io::OpKind::write:
      io_uring_prep_write(sqe, op.fd, op.buf, op.len, op.offset);
      break;
    case io::OpKind::writev:
      io_uring_prep_writev(sqe, op.fd, op.msg.msg_iov, static_cast<unsigned>(op.msg.msg_iovlen), op.offset);
      break;
    case io::OpKind::poll:
      io_uring_prep_poll_add(sqe, op.fd, static_cast<unsigned>(op.flags));
      break;
    case io::OpKind::recv:
      prepare_recv(sqe, op);
      break;
    case io::OpKind::send:
      if (options_.send_zc_min != 0 && op.len >= options_.send_zc_min && features_.send_zc &&
          !op.zero_copy_refused) {
        io_uring_prep_send_zc(sqe, op.fd, op.buf, op.len, op.flags | MSG_NOSIGNAL, 0);
        op.zero_copy = true;
      } else {
        io_uring_prep_send(sqe, op.fd, op.buf, op.len, op.flags | MSG_NOSIGNAL);
      }
      break;
    case io::OpKind::sendmsg:
      io_uring_prep_sendmsg(sqe, op.fd, &op.msg, op.flags | MSG_NOSIGNAL);
      break;
    case io::OpKind::recvmsg:
      io_uring_prep_recvmsg(sqe, op.fd, &op.msg, op.flags);
      break;
    case io::OpKind::accept:
      io_uring_prep_accept(sqe, op.fd, nullptr, nullptr, SOCK_CLOEXEC);
      break;
    case io::OpKind::connect:
      io_uring_prep_connect(sqe, op.fd, op.addr, op.addr_len);
      break;
    case io::OpKind::shutdown:
      io_uring_prep_shutdown(sqe, op.fd, op.flags);
      break;
    case io::OpKind::close:
      io_uring_prep_close(sqe, op.fd);
      break;
    case io::OpKind::openat:
      io_uring_prep_openat(sqe, AT_FDCWD, op.path, op.flags | O_CLOEXEC, op.mode);
      break;
    case io::OpKind::statx:
      io_uring_prep_statx(sqe, op.fd, op.path, op.flags, STATX_BASIC_STATS, op.statx_buf);
      break;
    case io::OpKind::fsync:
      io_uring_prep_fsync(sqe, op.fd, static_cast<unsigned>(op.flags));
      break;
    case io::OpKind::mkdirat:
      io_uring_prep_mkdirat(sqe, AT_FDCWD, op.path, op.mode);
      break;
    case io::OpKind::renameat:
      io_uring_prep_renameat(sqe, AT_FDCWD, op.path, AT_FDCWD, op.path2, 0);
      break;
    case io::OpKind::unlinkat:
      io_uring_prep_unlinkat(sqe, AT_FDCWD, op.path, op.flags);
      break;
    case io::OpKind::linkat:
      io_uring_prep_linkat(sqe, AT_FDCWD, op.path, AT_FDCWD, op.path2, 0);
      break;
    case io::OpKind::symlinkat:
      io_uring_prep_symlinkat(sqe, op.path, AT_FDCWD, op.path2);
      break;
    case io::OpKind::splice: {
      const std::int64_t at = op.offset == io::kCurrentPosition ? -1 : static_cast<std::int64_t>(op.offset);
      if (op.to_pipe)
        io_uring_prep_splice(sqe, op.fd, at, op.pipe_fd, -1, op.len, 0);
      else
        io_uring_prep_splice(sqe, op.pipe_fd, -1, op.fd, at, op.len, 0);
      break;
    }
    case io::OpKind::waitid:
      if (features_.waitid) {
        io_uring_prep_rw(static_cast<int>(kOpWaitid), sqe, op.fd, nullptr, kIdPidfd, 0);
        sqe->file_index = WEXITED;
        sqe->addr2 = reinterpret_cast<std::uintptr_t>(op.buf);
      } else {
        io_uring_prep_poll_add(sqe, op.fd, POLLIN);  // readable once it exited
      }
      break;
  }
}

// With provided buffers, a receive without a deadline names no buffer (the
// kernel picks one when data arrives; dispatch copies it out). One with a
// deadline keeps its own buffer: after -ENOBUFS it is resubmitted, which a
// linked timeout would not survive.
void Ring::prepare_recv(io_uring_sqe* sqe, io::Operation& op) {
  op.buffer_select = pbufs_ != nullptr && op.len > 0 && op.options.deadline == kNoDeadline;
  if (!op.buffer_select) {
    io_uring_prep_recv(sqe, op.fd, op.buf, op.len, op.flags);
    return;
  }
  io_uring_prep_recv(sqe, op.fd, nullptr, std::min<std::uint32_t>(op.len, pbufs_->size()),
                     op.flags);
  sqe->flags |= IOSQE_BUFFER_SELECT;
  sqe->buf_group = pbufs_->group();
}

// Receives that found no provided buffer free go again with their own.
// Called by poll() after a reap; a cancel sent meanwhile found nothing in
// the kernel, so it is honoured here.
void Ring::resubmit_misses(Stats& stats) {
  std::vector<io::Operation*> misses;
  misses.swap(misses_);
  for (io::Operation* op : misses) {
    if (op->cancel_sent || cancelled_all_) {
      op->result = -ECANCELED;
      operation_part_done(op);
      continue;
    }
    ++stats.buffer_ring_misses;
    op->buffer_select = false;
    io_uring_sqe* sqe = get_sqe();
    io_uring_prep_recv(sqe, op->fd, op->buf, op->len, op->flags);
    io_uring_sqe_set_data64(sqe, reinterpret_cast<std::uint64_t>(op) | kTagOperation);
    ++in_flight_;
  }
}

bool Ring::submit(io::Operation& op) {
  owner.check("Ring", "submit");
  if (op.kind == io::OpKind::accept) {
    if (const int e = faults::fail(faults::Site::accept)) [[unlikely]] {
      op.result = -e;  // as accept(2) failing: the connections stay queued
      return true;
    }
    if (op.listener != nullptr) return static_cast<RingListener*>(op.listener)->take(op);
  }
  const bool cancel_first = op.kind == io::OpKind::close && features_.cancel_fd;
  const bool timed = op.options.deadline != kNoDeadline;
  // Linked SQEs must reach the kernel in one submission.
  reserve(1 + cancel_first + timed);
  if (cancel_first) {
    // Whatever else waits on this descriptor ends with -ECANCELED before it
    // closes (a read parked forever on a closed socket helps nobody). Hard
    // link: the close runs even when there was nothing to cancel.
    cancel_everything_on(op.fd)->flags |= IOSQE_IO_HARDLINK;
  }
  io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
  prepare(sqe, op);
  io_uring_sqe_set_data64(sqe, reinterpret_cast<std::uint64_t>(&op) | kTagOperation);
  op.pending = 1;
  if (timed) {
    sqe->flags |= IOSQE_IO_LINK;
    io_uring_sqe* timeout = io_uring_get_sqe(&ring_);
    op.deadline_ts = io::absolute_timespec<__kernel_timespec>(op.options.deadline);
    io_uring_prep_link_timeout(timeout, &op.deadline_ts, IORING_TIMEOUT_ABS);
    io_uring_sqe_set_data64(timeout, reinterpret_cast<std::uint64_t>(&op) | kTagTimeout);
    op.pending = 2;
  }
  in_flight_ += op.pending;
  return false;
}

void Ring::cancel(io::Operation& op) {
  owner.check("Ring", "cancel");
  if (op.queued) {
    static_cast<RingListener*>(op.listener)->end_wait(op, ECANCELED);
    return;
  }
  if (op.pending == 0 || op.cancel_sent) return;
  op.cancel_sent = true;
  io_uring_sqe* sqe = fire_and_forget();
  io_uring_prep_cancel64(sqe, reinterpret_cast<std::uint64_t>(&op) | kTagOperation, 0);
  io_uring_sqe_set_data64(sqe, kTagIgnore);
}

io::Listener* Ring::open_listener(int fd) {
  owner.check("Ring", "open_listener");
  auto* l = new RingListener(*this, fd);
  fibers::link_front<&RingListener::prev_, &RingListener::next_>(open_listeners_, l);
  return l;
}

void Ring::close_listener(io::Listener* listener) {
  owner.check("Ring", "close_listener");
  auto* l = static_cast<RingListener*>(listener);
  reserve(1);  // before anything changes: reserving may reap completions
  l->closing_ = true;
  l->fail_waiters(ECANCELED);
  for (int fd : l->queued_) ::close(fd);
  l->queued_.clear();
  fibers::unlink<&RingListener::prev_, &RingListener::next_>(open_listeners_, l);
  if (!l->armed_) {
    delete l;
    return;
  }
  // The kernel still owes a completion naming it: keep it until then.
  fibers::link_front<&RingListener::prev_, &RingListener::next_>(closing_listeners_, l);
  io_uring_sqe* sqe = fire_and_forget();
  io_uring_prep_cancel64(sqe, reinterpret_cast<std::uint64_t>(l) | kTagListener, 0);
  io_uring_sqe_set_data64(sqe, kTagIgnore);
}

void Ring::forget_closed(RingListener* l) {
  fibers::unlink<&RingListener::prev_, &RingListener::next_>(closing_listeners_, l);
  delete l;
}

void Ring::service_listeners() {
  bool all_done = true;
  for (RingListener* l = open_listeners_; l != nullptr; l = l->next_) all_done &= l->service();
  listeners_need_service_ = !all_done;
}

void Ring::retire_fd(int fd) {
  owner.check("Ring", "retire_fd");
  for (RingListener* l = open_listeners_; l != nullptr;) {
    RingListener* next = l->next_;
    if (l->fd_ == fd) close_listener(l);
    l = next;
  }
  if (features_.cancel_fd) cancel_everything_on(fd);
  // The cancel must reach the kernel before anyone closes the descriptor
  // (it matches requests by open file): submit now, not at the round's end,
  // and all of it (a refused or short enter would leave the cancel behind,
  // and the requests it was for would hold the closed socket open).
  for (int attempt = 0; !push_sqes(attempt); ++attempt) {
  }
}

void Ring::close_in_background(int fd) {
  owner.check("Ring", "close_in_background");
  reserve(2);
  if (features_.cancel_fd) cancel_everything_on(fd)->flags |= IOSQE_IO_HARDLINK;
  io_uring_prep_close(fire_and_forget(), fd);
}

// A fire-and-forget cancel of every request on `fd` (Linux 5.19:
// features_.cancel_fd). Returns its SQE, for linking.
io_uring_sqe* Ring::cancel_everything_on(int fd) {
  io_uring_sqe* sqe = fire_and_forget();
  io_uring_prep_cancel_fd(sqe, fd, IORING_ASYNC_CANCEL_ALL);
  io_uring_sqe_set_data64(sqe, kTagIgnore);
  return sqe;
}

// ---- the round's enter -----------------------------------------------------------

// Hands the kernel the SQEs filled up to `upto` (an SQE index, at most
// sqe_tail): their slots go into the SQ array and the tail moves past
// them. Under reap_mutex_ on a ring a rescue may publish too. Returns the
// new tail.
unsigned Ring::publish_up_to(unsigned upto) {
  io_uring_sq& sq = ring_.sq;
  unsigned ktail = *sq.ktail;
  while (static_cast<int>(upto - sq.sqe_head) > 0) {
    sq.array[ktail & sq.ring_mask] = sq.sqe_head & sq.ring_mask;
    ++ktail;
    ++sq.sqe_head;
  }
  // The kernel must see the SQE contents before it sees the new tail.
  io_uring_smp_store_release(sq.ktail, ktail);
  return ktail;
}

unsigned Ring::publish_sq() {
  auto guard = reap_guard();  // a rescue may publish too (submit_prepared)
  return publish_up_to(ring_.sq.sqe_tail) - *ring_.sq.khead;
}

int Ring::enter(unsigned to_submit, unsigned min_complete, unsigned flags, Deadline wake_by) {
  // Submissions happen under the reap lock, so a rescuer that reaps their
  // completions sees everything the fibers wrote into the records before.
  auto guard = reap_guard();
  // A rescue may have taken completions (the wake-up's among them) into the
  // stash: do not sleep on the kernel with work stashed. No rescue can stash
  // more while we hold the lock.
  if (min_complete > 0 && !stash_.empty()) min_complete = 0;
  ++enters_;
  if (const int e = faults::fail(faults::Site::ring_enter)) [[unlikely]]
    return -e;
  const unsigned asked = to_submit;
  if (to_submit > 1 && faults::fail(faults::Site::ring_short_submit)) [[unlikely]] {
    // As the kernel does when it takes fewer SQEs than given: no wait.
    to_submit = 1;
    min_complete = 0;
  }
  int rc;
  if (min_complete > 0 && wake_by != kNoDeadline && features_.ext_arg) {
    __kernel_timespec ts = io::time_left<__kernel_timespec>(wake_by);
    io_uring_getevents_arg arg{};
    arg.ts = reinterpret_cast<std::uint64_t>(&ts);
    rc = io_uring_enter2(enter_fd_, to_submit, min_complete,
                         flags | enter_flags_ | IORING_ENTER_EXT_ARG,
                         reinterpret_cast<sigset_t*>(&arg), sizeof arg);
  } else {
    rc = io_uring_enter2(enter_fd_, to_submit, min_complete, flags | enter_flags_, nullptr, 0);
  }
  if (rc > 0) submitted_ += static_cast<unsigned>(rc);
  if (rc >= 0 && static_cast<unsigned>(rc) < asked) [[unlikely]]
    mend_split_link();
  return rc;
}

void Ring::poll(bool block, Deadline wake_by, Stats& stats) {
  owner.check("Ring", "poll");
  bool wait = block;
  if (wait) {
    auto guard = reap_guard();  // a rescue moves the CQ head under it
    wait = io_uring_cq_ready(&ring_) == 0;
  }
  if (wait && wake_by != kNoDeadline && !features_.ext_arg) {
    // Kernels before 5.11 cannot time out an enter: arm a timeout request
    // that completes (and so ends the wait) at the deadline.
    wait_ts_ = io::absolute_timespec<__kernel_timespec>(wake_by);
    io_uring_prep_timeout(fire_and_forget(), &wait_ts_, 0, IORING_TIMEOUT_ABS);
  }
  const unsigned to_submit = publish_sq();
  const unsigned sq_flags = IO_URING_READ_ONCE(*ring_.sq.kflags);
  const bool flush = (sq_flags & (IORING_SQ_TASKRUN | IORING_SQ_CQ_OVERFLOW)) != 0;
  if ((sq_flags & IORING_SQ_CQ_OVERFLOW) != 0) [[unlikely]]
    ++stats.cq_overflows;
  if (to_submit > 0 || flush || wait) {
    const unsigned flags = (wait || flush || features_.defer_taskrun) ? IORING_ENTER_GETEVENTS : 0;
    if (wait) ++waits_;
    if (const int rc = enter(to_submit, wait ? 1 : 0, flags, wake_by); rc < 0 && rc != -ETIME) [[unlikely]]
      enter_failed(rc, stats);
  }
  reap();
  if (!split_.empty()) [[unlikely]]
    serve_split_links();
  if (!misses_.empty()) resubmit_misses(stats);
  if (listeners_need_service_) service_listeners();
  if (!msg_wake_ && !wake_armed_) arm_wake();
  stats.ring_enters += enters_;
  stats.ring_waits += waits_;
  stats.sqes_submitted += submitted_;
  stats.cqes_reaped += reaped_;
  stats.split_links += split_links_;
  if (submitted_ != 0) WEFT_PROBE1(submit, submitted_);
  if (reaped_ != 0) WEFT_PROBE1(complete, reaped_);
  enters_ = waits_ = submitted_ = reaped_ = split_links_ = 0;
}

bool Ring::has_completions() const {
  const unsigned sq_flags = IO_URING_READ_ONCE(*ring_.sq.kflags);
  if ((sq_flags & (IORING_SQ_TASKRUN | IORING_SQ_CQ_OVERFLOW)) != 0) return true;
  if (options_.shared_reaping) {
    // A rescue moves the CQ head and fills the stash under reap_mutex_: look
    // under it too (held by a rescue right now: there is news).
    std::unique_lock<std::mutex> guard(reap_mutex_, std::try_to_lock);
    if (!guard.owns_lock()) return true;
    return io_uring_cq_ready(&ring_) != 0 || !stash_.empty();
  }
  return io_uring_cq_ready(&ring_) != 0;
}

void Ring::reap() {
  auto guard = reap_guard();
  if (options_.shared_reaping) {
    in_flight_ -= rescued_cqes_;
    rescued_cqes_ = 0;
    for (const io_uring_cqe& c : stash_) dispatch(&c);
    reaped_ += stash_.size();
    stash_.clear();
  }
  unsigned head;
  unsigned n = 0;
  io_uring_cqe* cqe;
  io_uring_for_each_cqe(&ring_, head, cqe) {
    dispatch(cqe);
    ++n;
  }
  io_uring_cq_advance(&ring_, n);
  reaped_ += n;
}

void Ring::dispatch(const io_uring_cqe* cqe) noexcept {
  const std::uint64_t data = cqe->user_data;
  if (data == kTagWake) {
    // Eventfd: re-armed after the reap. Either way the worker looks at its
    // inbox and the queues after this poll.
    wake_armed_ = false;
    wake_flag_.consumed();
    return;
  }
  if ((cqe->flags & IORING_CQE_F_MORE) == 0) --in_flight_;
  void* record = reinterpret_cast<void*>(data & ~kTagMask);
  switch (data & kTagMask) {
    case kTagOperation: {
      auto* op = static_cast<io::Operation*>(record);
      if (missed_buffer(op, cqe)) {
        misses_.push_back(op);  // still owed a result: poll() resubmits it
        break;
      }
      record_result(op, cqe);
      if (op->timeout_alone) [[unlikely]] {
        split_.push_back({op, false});  // split_link.cc
        break;
      }
      operation_part_done(op);
      break;
    }
    case kTagTimeout: {
      auto* op = static_cast<io::Operation*>(record);
      if (timeout_fired(cqe->res)) op->timed_out = true;
      if (op->timeout_alone) [[unlikely]] {
        split_.push_back({op, true});
        break;
      }
      operation_part_done(op);
      break;
    }
    case kTagListener:
      static_cast<RingListener*>(record)->on_completion(cqe->res, cqe->flags);
      break;
    default:
      break;
  }
}

// A zero-copy send completes twice: its result, flagged IORING_CQE_F_MORE,
// then a notification (IORING_CQE_F_NOTIF) once the kernel no longer reads
// the buffer. The fiber resumes only after the second, so it may reuse the
// buffer as after any send.
void Ring::record_result(io::Operation* op, const io_uring_cqe* cqe) noexcept {
  if ((cqe->flags & IORING_CQE_F_NOTIF) != 0) return;
  op->result = cqe->res;
  if ((cqe->flags & IORING_CQE_F_BUFFER) != 0) {
    pbufs_->take(cqe->flags >> IORING_CQE_BUFFER_SHIFT, op->buf,
                 cqe->res > 0 ? static_cast<std::size_t>(cqe->res) : 0);
  }
  if ((cqe->flags & IORING_CQE_F_MORE) != 0) ++op->pending;
}

// One of the record's completions arrived; true once it has them all (its
// result is then final).
bool Ring::last_part(io::Operation* op) noexcept {
  // A completion for a record that owes none would mean the kernel may write
  // into memory a fiber already reused: stop loudly rather than corrupt it.
  if (op->pending == 0) [[unlikely]] fail_stray_completion(op);
  if (--op->pending != 0) return false;
  // The linked timeout cancelled the request: report why it was cancelled.
  // (A request cancelled by its timeout alone, split_link.cc, may say -EINTR.)
  if (op->timed_out && (op->result == -ECANCELED || (op->timeout_alone && op->result == -EINTR)))
    op->result = -fibers::kDeadlineExceeded;
  return true;
}

void Ring::operation_part_done(io::Operation* op) noexcept {
  if (!last_part(op)) return;
  // A zero-copy send the socket refused (a Unix-domain one says EOPNOTSUPP,
  // then notifies): both completions are in, so again, plain, with its
  // deadline. The owner's: a rescue leaves zero-copy sends alone.
  if (op->zero_copy && op->result == -EOPNOTSUPP && !op->cancel_sent && !cancelled_all_) {
    op->zero_copy = false;
    op->zero_copy_refused = true;
    (void)submit(*op);
    return;
  }
  deliver(*op);
}

// Under reap_mutex_, on the monitor's thread: hands the kernel what parked
// fibers queued in the busy worker's round (see prepared_tail_).
unsigned Ring::submit_prepared() {
  io_uring_sq& sq = ring_.sq;
  const unsigned ktail = publish_up_to(prepared_tail_.load(std::memory_order_acquire));
  // Entries an earlier rescue published but the kernel did not take (EBUSY,
  // a partial submit) go again too.
  if (ktail == io_uring_smp_load_acquire(sq.khead)) return 0;
  // The ring's own descriptor: a registered index belongs to the owner.
  const unsigned asked = ktail - *sq.khead;
  const int rc = io_uring_enter2(ring_.ring_fd, asked, 0, 0, nullptr, 0);
  if (rc >= 0 && static_cast<unsigned>(rc) < asked) [[unlikely]]
    mend_split_link();
  if (rc <= 0) return 0;
  submitted_ += static_cast<unsigned>(rc);
  return static_cast<unsigned>(rc);
}

// On the monitor's thread, while the owner runs one fiber for long.
// Operations are finished here (a CQE exists only for a fiber that has
// switched out: SQEs reach the kernel after their fiber parked), watched
// ones included, and their fibers go to the global queue. Listener and
// wake-up completions, and receives to resubmit, are stashed, in order, for
// the owner.
std::size_t Ring::rescue(fibers::Scheduler& scheduler) {
  if (!options_.shared_reaping) return 0;
  std::unique_lock<std::mutex> guard(reap_mutex_, std::try_to_lock);
  if (!guard.owns_lock()) return 0;  // the owner is entering or reaping after all
  (void)submit_prepared();  // their completions are rescued at a later tick
  // Operations watched by a cancel token are finished here too, taken off
  // the watch list under its lock (an accept that serve() watches must not
  // wait for the hog). If the owner holds that lock, they wait for it.
  RescueHold watch(*this);
  // Cancels asked from other threads: their posted scans wait in the busy
  // owner's inbox, and the SQ is the owner's, but the kernel cancels a
  // request it holds on any thread's word (their completions are reaped
  // below or at a later tick). What it does not hold yet, or cannot stop at
  // once, is left to the owner's scan.
  if (watch.held() && sync_cancel_) {
    watch.serve_cancel_requests([this](io::Operation& op) {
      io_uring_sync_cancel_reg reg{};
      reg.addr = reinterpret_cast<std::uint64_t>(&op) | kTagOperation;
      reg.timeout = {0, 0};  // do not wait for one that runs in a kernel thread
      const int rc = static_cast<int>(
          ::syscall(__NR_io_uring_register, ring_.ring_fd, IORING_REGISTER_SYNC_CANCEL, &reg, 1));
      if (rc < 0 && errno == EINVAL) sync_cancel_ = false;  // before Linux 6.0
      return rc >= 0;
    });
  }
  if (io_uring_cq_ready(&ring_) == 0) return 0;  // (the head is the owner's: under the lock)
  std::size_t readied = 0;
  unsigned head;
  unsigned n = 0;
  io_uring_cqe* cqe;
  io_uring_for_each_cqe(&ring_, head, cqe) {
    ++n;
    const std::uint64_t data = cqe->user_data;
    const std::uint64_t tag = data & kTagMask;
    auto* op = reinterpret_cast<io::Operation*>(data & ~kTagMask);
    // A receive that found no provided buffer is resubmitted by the owner;
    // listeners and wake-ups are the owner's (the wake-up's news, the
    // inbox, is rescued by the monitor itself: Worker::rescue_arrivals).
    const bool ours = tag == kTagIgnore ||
                      ((tag == kTagOperation || tag == kTagTimeout) &&
                       (watch.held() || op->options.cancel == nullptr) && !op->zero_copy &&
                       !op->timeout_alone &&
                       !(tag == kTagOperation && missed_buffer(op, cqe)));
    if (!ours) {
      stash_.push_back(*cqe);
      continue;
    }
    if ((cqe->flags & IORING_CQE_F_MORE) == 0) ++rescued_cqes_;
    if (tag == kTagIgnore) continue;
    if (tag == kTagOperation) record_result(op, cqe);
    if (tag == kTagTimeout && timeout_fired(cqe->res)) op->timed_out = true;
    if (!last_part(op)) continue;
    if (op->options.cancel != nullptr) watch.unwatch(*op);
    if (scheduler.ready_global(op->fiber)) ++readied;
  }
  io_uring_cq_advance(&ring_, n);
  return readied;
}

bool Ring::cancel_all(Stats& stats) {
  cancelled_all_ = true;  // receives that miss a provided buffer now end
  for (RingListener* l = open_listeners_; l != nullptr; l = l->next_) l->fail_waiters(ECANCELED);
  if (in_flight_ != 0) {
    io_uring_sqe* sqe = fire_and_forget();
    io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY | IORING_ASYNC_CANCEL_ALL);
    io_uring_sqe_set_data64(sqe, kTagIgnore);
  }
  return drain(stats);
}

bool Ring::drain(Stats& stats) {
  // Requests the kernel cannot interrupt (a file read already running in a
  // worker thread) still finish; give them a few seconds.
  const Deadline give_up = Clock::now() + std::chrono::seconds(5);
  while (Clock::now() < give_up) {
    poll(in_flight_ != 0, Clock::now() + std::chrono::milliseconds(100), stats);
    if (in_flight_ == 0 && io_uring_sq_ready(&ring_) == 0) return true;
  }
  std::fprintf(stderr, "weft: %zu io_uring requests did not end in time\n", in_flight_);
  return false;
}

}  // namespace weft::uring
