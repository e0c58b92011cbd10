#include <weft/epoll/epoll.h>

#include <fcntl.h>
#include <linux/openat2.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <climits>
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>

#include <weft/faults/faults.h>
#include <weft/fibers/probes.h>
#include <weft/fibers/stats.h>
#include <weft/io/timespec.h>
#include <weft/fibers/intrusive_fifo.h>

namespace weft::epoll {
namespace {

std::int64_t sys_result(long rc) { return rc >= 0 ? rc : -errno; }

constexpr auto kIdPidfd = static_cast<idtype_t>(3);  // P_PIDFD (Linux 5.4)

// openat2(2) with RESOLVE_CACHED (Linux 5.12): opens a regular file or a
// directory only if the lookup needs no I/O, else -EAGAIN (the pool opens).
// Creating or truncating may block: -EAGAIN at once. The path is looked at
// first through an O_PATH descriptor, which opens nothing: opening a FIFO
// or a device has effects (a FIFO's open wakes the other end's), so those
// are left to the pool's plain openat, and the caller sees open(2)'s
// meaning exactly. Where the kernel lacks openat2 (ENOSYS, or EPERM from a
// seccomp filter), always -EAGAIN.
std::int64_t open_if_cached(const io::Operation& op) {
  static std::atomic<bool> unsupported{false};
  if ((op.flags & (O_CREAT | O_TRUNC | O_TMPFILE)) != 0 || unsupported.load(std::memory_order_relaxed)) return -EAGAIN;
  auto open_cached = [&op](std::uint64_t flags) {
    open_how how{};
    how.flags = flags | O_CLOEXEC;
    how.resolve = RESOLVE_CACHED;
    return static_cast<int>(::syscall(SYS_openat2, AT_FDCWD, op.path, &how, sizeof how));
  };
  // EINVAL: a flag openat2 is strict about and openat ignores. The pool
  // decides, as it does for EAGAIN (not cached).
  auto refused = [] {
    if (errno == ENOSYS || errno == EPERM) unsupported.store(true, std::memory_order_relaxed);
    return errno == ENOSYS || errno == EPERM || errno == EINVAL || errno == EAGAIN;
  };
  const int probe = open_cached(O_PATH | (static_cast<std::uint64_t>(op.flags) & O_NOFOLLOW));
  if (probe < 0) return refused() ? -EAGAIN : -errno;
  struct stat st {};
  const bool plain = ::fstat(probe, &st) == 0 && (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode));
  ::close(probe);
  if (!plain) return -EAGAIN;
  const int fd = open_cached(static_cast<std::uint64_t>(op.flags));
  if (fd < 0) return refused() ? -EAGAIN : -errno;
  return fd;
}

// Files and block devices: data may be in the page cache (RWF_NOWAIT).
// Other descriptors epoll refuses (directories, /dev/null) reach the pool
// through wait_on's EPERM fallback.
bool is_seekable_file(int fd) {
  struct stat st {};
  return fstat(fd, &st) == 0 && (S_ISREG(st.st_mode) || S_ISBLK(st.st_mode));
}

// A splice between op.fd and the pipe, either way.
std::int64_t splice_call(const io::Operation& op, unsigned flags) {
  loff_t offset = static_cast<loff_t>(op.offset);
  loff_t* at = op.offset == io::kCurrentPosition ? nullptr : &offset;
  if (op.to_pipe) return sys_result(::splice(op.fd, at, op.pipe_fd, nullptr, op.len, flags));
  return sys_result(::splice(op.pipe_fd, nullptr, op.fd, at, op.len, flags));
}

// A gathered write of op.msg's buffers, at op.offset or the descriptor's
// own position (kCurrentPosition is -1: pwritev2's "current position").
std::int64_t writev_call(const io::Operation& op, int flags) {
  return sys_result(::pwritev2(op.fd, op.msg.msg_iov, static_cast<int>(op.msg.msg_iovlen),
                               static_cast<off_t>(op.offset), flags));
}

// The system call of a file operation, run on a helper thread.
std::int64_t run_file_call(io::Operation& op) {
  switch (op.kind) {
    case io::OpKind::read:
      if (op.offset == io::kCurrentPosition) return sys_result(::read(op.fd, op.buf, op.len));
      return sys_result(::pread(op.fd, op.buf, op.len, static_cast<off_t>(op.offset)));
    case io::OpKind::write:
      if (op.offset == io::kCurrentPosition) return sys_result(::write(op.fd, op.buf, op.len));
      return sys_result(::pwrite(op.fd, op.buf, op.len, static_cast<off_t>(op.offset)));
    case io::OpKind::writev:
      return writev_call(op, 0);
    case io::OpKind::openat:
      return sys_result(::openat(AT_FDCWD, op.path, op.flags | O_CLOEXEC, op.mode));
    case io::OpKind::statx:
      return sys_result(::statx(op.fd, op.path, op.flags, STATX_BASIC_STATS, op.statx_buf));
    case io::OpKind::fsync:
      return sys_result((op.flags & 1) != 0 ? ::fdatasync(op.fd) : ::fsync(op.fd));
    case io::OpKind::mkdirat:
      return sys_result(::mkdirat(AT_FDCWD, op.path, op.mode));
    case io::OpKind::renameat:
      return sys_result(::renameat(AT_FDCWD, op.path, AT_FDCWD, op.path2));
    case io::OpKind::unlinkat:
      return sys_result(::unlinkat(AT_FDCWD, op.path, op.flags));
    case io::OpKind::linkat:
      return sys_result(::linkat(AT_FDCWD, op.path, AT_FDCWD, op.path2, 0));
    case io::OpKind::symlinkat:
      return sys_result(::symlinkat(op.path, AT_FDCWD, op.path2));
    case io::OpKind::splice:  // a file's side may wait for the disk; the pipe's never waits long
      return splice_call(op, 0);
    default:
      return -EINVAL;
  }
}

// epoll_pwait2 (Linux 5.11) takes its timeout in nanoseconds. Where it is
// missing (an older kernel, valgrind 3.19, a seccomp filter that does not
// know it), epoll_wait in milliseconds, rounded up so as never to wake early.
int wait_for_events(int epfd, epoll_event* events, int max, const timespec* timeout) {
  if (const int e = faults::fail(faults::Site::epoll_wait)) [[unlikely]] {
    errno = e;
    return -1;
  }
  static std::atomic<bool> without_pwait2{false};
  if (!without_pwait2.load(std::memory_order_relaxed)) {
    const int n = epoll_pwait2(epfd, events, max, timeout, nullptr);
    if (n >= 0 || errno != ENOSYS) return n;
    without_pwait2.store(true, std::memory_order_relaxed);
  }
  int ms = -1;
  if (timeout != nullptr) {
    const long long total = (static_cast<long long>(timeout->tv_sec) * 1'000'000'000 + timeout->tv_nsec +
                             999'999) / 1'000'000;
    ms = total > INT_MAX ? INT_MAX : static_cast<int>(total);
  }
  return epoll_wait(epfd, events, max, ms);
}

}  // namespace

// One direction of a descriptor: the operations waiting on it, in order.
struct EpollBackend::Side {
  // Operations waiting for this side to be ready, served in order.
  fibers::IntrusiveQueue<io::Operation, &io::Operation::next_waiter> waiting;
  bool ready = true;  // until an attempt says EAGAIN
};

struct EpollBackend::FdState : alloc::HeapObject {
  int fd = -1;
  Side read;   // accept, recv, recvmsg, read (pipes)
  Side write;  // send, sendmsg, write and writev (pipes), connect
  Side& side(bool writing) { return writing ? write : read; }
};

// Takes the first operation waiting on `s` (there is one) off the list.
io::Operation* EpollBackend::pop_waiter(Side& s) {
  io::Operation* op = s.waiting.pop_front();
  op->queued = false;
  waiting_.fetch_sub(1, std::memory_order_relaxed);
  return op;
}

// Ends every operation waiting on `st` with -error.
void EpollBackend::fail_waiters(FdState& st, int error) {
  for (Side* s : {&st.read, &st.write}) {
    while (!s->waiting.empty()) finish(*pop_waiter(*s), -error);
  }
}

// epoll needs nothing per listener beyond the descriptor's own FdState; the
// object exists so sockets treat both backends alike (and so a socket can
// tell when its backend is gone).
class EpollBackend::EpollListener final : public io::Listener {
 public:
  EpollListener(io::Backend* backend, int listening_fd) : io::Listener(backend), fd(listening_fd) {}
  void orphan() { backend_ = nullptr; }
  int fd;
  EpollListener* prev = nullptr;
  EpollListener* next = nullptr;
};

Result<std::unique_ptr<EpollBackend>> EpollBackend::create(bool shared_reaping) {
  std::unique_ptr<EpollBackend> b(new EpollBackend(shared_reaping));
  b->epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
  if (b->epoll_fd_ < 0) return errno_error(errno);
  b->wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (b->wake_fd_ < 0) return errno_error(errno);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.ptr = nullptr;  // the wake eventfd
  if (epoll_ctl(b->epoll_fd_, EPOLL_CTL_ADD, b->wake_fd_, &ev) != 0) return errno_error(errno);
  return b;
}

EpollBackend::~EpollBackend() {
  // Sockets still open keep their listener objects; tell them we are gone.
  for (EpollListener* l = listeners_; l != nullptr; l = l->next) l->orphan();
  for (FdState* st : fds_) delete st;
  if (wake_fd_ >= 0) ::close(wake_fd_);
  if (epoll_fd_ >= 0) ::close(epoll_fd_);
}

std::string EpollBackend::describe() const {
  return "backend=epoll (edge-triggered, epoll_pwait2 timeouts (epoll_wait without it), eventfd wake-ups, file I/O on "
         "the blocking pool)";
}

// ---- descriptors -----------------------------------------------------------------

EpollBackend::FdState* EpollBackend::find(int fd) const {
  return fd >= 0 && static_cast<std::size_t>(fd) < fds_.size() ? fds_[static_cast<std::size_t>(fd)]
                                                               : nullptr;
}

EpollBackend::FdState* EpollBackend::state_for(int fd) {
  if (FdState* st = find(fd)) return st;
  // Non-blocking from now on: every call on it is an attempt.
  const int flags = fcntl(fd, F_GETFL);
  if (flags < 0 || ((flags & O_NONBLOCK) == 0 && fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0)) {
    return nullptr;
  }
  auto* st = new FdState;
  st->fd = fd;
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
  ev.data.ptr = st;
  const int injected = faults::fail(faults::Site::epoll_ctl);
  if (injected != 0) errno = injected;
  if (injected != 0 || epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) != 0) {
    const int e = errno;
    delete st;
    if ((flags & O_NONBLOCK) == 0) (void)fcntl(fd, F_SETFL, flags);  // as it was
    errno = e;
    return nullptr;
  }
  if (static_cast<std::size_t>(fd) >= fds_.size()) fds_.resize(static_cast<std::size_t>(fd) + 1);
  fds_[static_cast<std::size_t>(fd)] = st;
  return st;
}

// Weft is closing (or letting go of) `fd`: whatever waits on it ends.
void EpollBackend::drop(int fd, int error) {
  FdState* st = find(fd);
  if (st == nullptr) return;
  fds_[static_cast<std::size_t>(fd)] = nullptr;
  epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
  fail_waiters(*st, error);
  delete st;
}

void EpollBackend::forget(int fd) {
  owner.check("EpollBackend", "forget");
  auto g = guard();
  drop(fd, ECANCELED);
}

void EpollBackend::retire_fd(int fd) {
  owner.check("EpollBackend", "retire_fd");
  auto g = guard();
  for (EpollListener* l = listeners_; l != nullptr;) {
    EpollListener* next = l->next;
    if (l->fd == fd) unlink_listener(l);
    l = next;
  }
  drop(fd, ECANCELED);
}

void EpollBackend::close_in_background(int fd) {
  owner.check("EpollBackend", "close_in_background");
  auto g = guard();
  drop(fd, ECANCELED);
  ::close(fd);
}

// ---- operations ------------------------------------------------------------------

std::int64_t EpollBackend::attempt(io::Operation& op) {
  switch (op.kind) {
    case io::OpKind::recv:
      return sys_result(::recv(op.fd, op.buf, op.len, op.flags | MSG_DONTWAIT));
    case io::OpKind::send:
      return sys_result(::send(op.fd, op.buf, op.len, op.flags | MSG_DONTWAIT | MSG_NOSIGNAL));
    case io::OpKind::recvmsg:
      return sys_result(::recvmsg(op.fd, &op.msg, op.flags | MSG_DONTWAIT));
    case io::OpKind::sendmsg:
      return sys_result(::sendmsg(op.fd, &op.msg, op.flags | MSG_DONTWAIT | MSG_NOSIGNAL));
    case io::OpKind::accept:
      if (const int e = faults::fail(faults::Site::accept)) [[unlikely]]
        return -e;
      return sys_result(::accept4(op.fd, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
    case io::OpKind::read:  // a pipe, FIFO or terminal: no offset
      return sys_result(::read(op.fd, op.buf, op.len));
    case io::OpKind::write:
      return sys_result(::write(op.fd, op.buf, op.len));
    case io::OpKind::writev:
      return writev_call(op, 0);
    case io::OpKind::splice:  // op.fd is non-blocking (state_for); the pipe side must not wait either
      return splice_call(op, SPLICE_F_NONBLOCK);
    case io::OpKind::poll: {
      pollfd p{op.fd, static_cast<short>(op.flags), 0};
      const int rc = ::poll(&p, 1, 0);
      if (rc < 0) return -errno;
      return rc == 0 ? -EAGAIN : p.revents;
    }
    case io::OpKind::waitid: {  // reaps a child that exited; else waits for its pidfd to turn readable
      auto* info = static_cast<siginfo_t*>(op.buf);
      *info = siginfo_t{};
      if (::waitid(kIdPidfd, static_cast<id_t>(op.fd), info, WEXITED | WNOHANG) != 0) return -errno;
      return info->si_pid != 0 ? 0 : -EAGAIN;
    }
    case io::OpKind::connect: {
      if (!op.connect_started) {
        op.connect_started = true;
        const int rc = ::connect(op.fd, op.addr, op.addr_len);
        if (rc == 0) return 0;
        return errno == EINPROGRESS ? -EAGAIN : -errno;
      }
      int error = 0;
      socklen_t len = sizeof error;
      if (getsockopt(op.fd, SOL_SOCKET, SO_ERROR, &error, &len) != 0) return -errno;
      return -error;  // 0 when connected
    }
    default:
      return -EINVAL;
  }
}

bool EpollBackend::submit(io::Operation& op) {
  owner.check("EpollBackend", "submit");
  auto g = guard();
  switch (op.kind) {
    case io::OpKind::nop:
      op.result = 0;
      return true;
    case io::OpKind::close:
      drop(op.fd, ECANCELED);
      op.result = sys_result(::close(op.fd));
      return true;
    case io::OpKind::shutdown:
      op.result = sys_result(::shutdown(op.fd, op.flags));
      return true;
    case io::OpKind::openat:
      // A path whose every step is in the dentry cache opens without a
      // thread, as IORING_OP_OPENAT does it; anything else goes to the pool.
      if (const std::int64_t fd = open_if_cached(op); fd != -EAGAIN) {
        op.result = fd;
        return true;
      }
      return submit_to_pool(op);
    case io::OpKind::statx:
    case io::OpKind::fsync:
    case io::OpKind::mkdirat:
    case io::OpKind::renameat:
    case io::OpKind::unlinkat:
    case io::OpKind::linkat:
    case io::OpKind::symlinkat:
      return submit_to_pool(op);
    case io::OpKind::read:
    case io::OpKind::write:
    case io::OpKind::writev:
      if (find(op.fd) == nullptr && is_seekable_file(op.fd)) {
        // Data in the page cache needs no thread: RWF_NOWAIT answers at once
        // or says EAGAIN (EOPNOTSUPP where the file system cannot tell).
        iovec iov{op.buf, op.len};
        const auto off = static_cast<off_t>(op.offset);
        const std::int64_t r = op.kind == io::OpKind::read    ? sys_result(::preadv2(op.fd, &iov, 1, off, RWF_NOWAIT))
                               : op.kind == io::OpKind::write ? sys_result(::pwritev2(op.fd, &iov, 1, off, RWF_NOWAIT))
                                                              : writev_call(op, RWF_NOWAIT);
        if (r != -EAGAIN && r != -EOPNOTSUPP && !(r == 0 && op.kind != io::OpKind::read)) {
          op.result = r;
          return true;
        }
        return submit_to_pool(op);
      }
      break;
    case io::OpKind::splice:
      if (find(op.fd) == nullptr && is_seekable_file(op.fd)) return submit_to_pool(op);
      break;
    default:
      break;
  }
  FdState* st = state_for(op.fd);
  if (st == nullptr) {
    // A descriptor epoll cannot watch (EPERM: a character device without
    // poll, such as /dev/null) is always ready: its read or write blocks at
    // most briefly, so it goes to the pool like a file's.
    if (errno == EPERM && (op.kind == io::OpKind::read || op.kind == io::OpKind::write ||
                           op.kind == io::OpKind::writev || op.kind == io::OpKind::splice))
      return submit_to_pool(op);
    if (errno == EPERM && op.kind == io::OpKind::poll) {  // as poll(2) has it: always ready
      op.result = op.flags;
      return true;
    }
    op.result = -errno;
    return true;
  }
  const bool write = op.kind == io::OpKind::send || op.kind == io::OpKind::sendmsg ||
                     op.kind == io::OpKind::write || op.kind == io::OpKind::writev ||
                     op.kind == io::OpKind::connect ||
                     (op.kind == io::OpKind::splice && !op.to_pipe) ||
                     (op.kind == io::OpKind::poll && (op.flags & POLLIN) == 0);
  return wait_on(*st, op, write);
}

// Tries `op` if nobody waits ahead of it on that side, else (or on EAGAIN)
// parks it there. Returns true when it completed at once.
bool EpollBackend::wait_on(FdState& st, io::Operation& op, bool write) {
  Side& s = st.side(write);
  if (s.waiting.empty() && (s.ready || (op.kind == io::OpKind::connect && !op.connect_started))) {
    const std::int64_t r = attempt(op);
    if (r != -EAGAIN) {
      op.result = r;
      return true;
    }
    s.ready = false;
  }
  if (op.options.deadline != kNoDeadline) {
    op.timer.op = &op;
    op.timer.deadline = op.options.deadline;
    op.timer.fire = [](fibers::Timer* t) {
      io::Operation* o = static_cast<io::Operation::Timer*>(t)->op;
      auto* self = static_cast<EpollBackend*>(o->backend);
      if (fibers::Worker::current() == o->worker) self->end_wait(*o, fibers::kDeadlineExceeded);
      else self->expire_elsewhere(*o);
    };
    op.timer.any_thread = shared_;  // the monitor may fire it (see "Rescue")
    op.worker->timers().add(&op.timer);  // may throw: before anything is linked
  }
  op.queued = true;
  op.waits_in = &st;
  op.waits_to_write = write;
  op.linked_at_poll = polls_;
  op.linked_at_park = parks_.load(std::memory_order_relaxed);
  s.waiting.push_back(&op);
  waiting_.fetch_add(1, std::memory_order_relaxed);
  return false;
}

// The descriptor is ready on one side: run its waiting operations in order
// until one would block again.
void EpollBackend::retry(FdState& st, bool write) {
  Side& s = st.side(write);
  s.ready = true;
  while (io::Operation* op = s.waiting.front()) {
    const std::int64_t r = attempt(*op);
    if (r == -EAGAIN) {
      s.ready = false;
      return;
    }
    finish(*pop_waiter(s), r);
  }
}

// retry() on the monitor's thread, under mutex_ (see "Rescue" in epoll.h).
// Returns how many fibers it readied.
std::size_t EpollBackend::rescue_retry(FdState& st, bool write, fibers::Scheduler& scheduler,
                                       RescueHold& watch) {
  Side& s = st.side(write);
  s.ready = true;
  std::size_t readied = 0;
  while (io::Operation* op = s.waiting.front()) {
    // Its deadline timer comes off first (try_remove: the timer's callback
    // may be running on the owner, waiting for mutex_, which we hold).
    fibers::TimerHeap& timers = op->worker->timers();  // locked: any thread
    const bool timed = op->options.deadline != kNoDeadline;
    // A watched one is finished only under the watch list's lock.
    const bool watched = op->options.cancel != nullptr;
    if (!parked_for_sure(*op) || (watched && !watch.held()) ||
        (timed && !timers.try_remove(&op->timer))) {
      owed_.emplace_back(st.fd, write);  // this one and those behind it: the owner's
      return readied;
    }
    const std::int64_t r = attempt(*op);
    if (r == -EAGAIN) {
      if (timed) timers.add(&op->timer);  // back as it was
      s.ready = false;
      return readied;
    }
    pop_waiter(s)->result = r;
    if (watched) watch.unwatch(*op);
    if (scheduler.ready_global(op->fiber)) ++readied;
  }
  return readied;
}

bool EpollBackend::parked_for_sure(const io::Operation& op) const {
  return op.linked_at_poll != polls_ || op.linked_at_park != parks_.load(std::memory_order_acquire);
}

// Takes a waiting `op` off its descriptor's list and readies its fiber
// through the global queue with -error: the rescuer's end_wait(), under
// mutex_ and `watch`. False (nothing done) when the owner must do it.
bool EpollBackend::end_wait_elsewhere(io::Operation& op, int error, RescueHold& watch,
                                      fibers::Timer* firing) {
  if (!op.queued || !parked_for_sure(op)) return false;
  if (op.options.cancel != nullptr && !watch.held()) return false;
  if (op.options.deadline != kNoDeadline && &op.timer != firing &&
      !op.worker->timers().try_remove(&op.timer))
    return false;  // its deadline fires on the owner right now
  unlink_waiter(op);
  op.result = -error;
  watch.unwatch(op);
  (void)op.worker->scheduler().ready_global(op.fiber);  // (false: stopping; it stays parked)
  return true;
}

// An operation's deadline passed while its worker runs one fiber for long
// (the monitor's thread: TimerHeap::fire_expired_elsewhere).
void EpollBackend::expire_elsewhere(io::Operation& op) {
  std::unique_lock<std::mutex> g(mutex_, std::try_to_lock);
  bool done = false;
  if (g.owns_lock()) {
    RescueHold watch(*this);
    done = !op.queued || end_wait_elsewhere(op, fibers::kDeadlineExceeded, watch, &op.timer);
  }
  // Not now: again at the monitor's next tick, or on the owner's first round.
  if (!done) op.worker->timers().add(&op.timer);
}

std::size_t EpollBackend::rescue(fibers::Scheduler& scheduler) {
  if (!shared_) return 0;
  std::unique_lock<std::mutex> g(mutex_, std::try_to_lock);
  if (!g.owns_lock()) return 0;  // the owner is in a call or its poll after all
  RescueHold watch(*this);  // operations watched by a token, too (an accept of serve())
  // Cancels asked from other threads (their requests wait in the busy
  // owner's inbox, which finds them done).
  std::size_t readied = 0;
  if (watch.held()) {
    watch.serve_cancel_requests([&](io::Operation& op) {
      if (!end_wait_elsewhere(op, ECANCELED, watch, nullptr)) return false;
      ++readied;
      return true;
    });
  }
  epoll_event events[64];
  const int n = epoll_wait(epoll_fd_, events, 64, 0);
  for (int i = 0; i < n; ++i) {
    auto* st = static_cast<FdState*>(events[i].data.ptr);
    if (st == nullptr) continue;  // the wake eventfd: level-triggered, still the owner's
    const std::uint32_t ev = events[i].events;
    if ((ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0)
      readied += rescue_retry(*st, false, scheduler, watch);
    if ((ev & (EPOLLOUT | EPOLLHUP | EPOLLERR)) != 0) readied += rescue_retry(*st, true, scheduler, watch);
  }
  return readied;
}

void EpollBackend::finish(io::Operation& op, std::int64_t result) {
  op.worker->timers().remove(&op.timer);
  op.result = result;
  deliver(op);
}

void EpollBackend::end_wait(io::Operation& op, int error) {
  auto g = guard();
  if (!op.queued) return;
  unlink_waiter(op);
  finish(op, -error);
}

// Takes a waiting `op` out of its descriptor's list, wherever it stands.
void EpollBackend::unlink_waiter(io::Operation& op) {
  Side& s = static_cast<FdState*>(op.waits_in)->side(op.waits_to_write);
  s.waiting.remove(&op);
  op.queued = false;
  waiting_.fetch_sub(1, std::memory_order_relaxed);
}

void EpollBackend::cancel(io::Operation& op) { end_wait(op, ECANCELED); }

bool EpollBackend::submit_to_pool(io::Operation& op) {
  op.pool_job.op = &op;
  op.pool_job.worker = op.worker;
  op.pool_job.fiber = op.fiber;
  op.pool_job.run = [](fibers::BlockingJob* job) noexcept {
    io::Operation* o = static_cast<io::Operation::PoolJob*>(job)->op;
    o->result = run_file_call(*o);
  };
  op.worker->expect_remote();
  op.pool_pending = true;  // handed to the pool once the fiber has parked (io/io.cc)
  return false;
}

// ---- the round's wait ------------------------------------------------------------

// The poll's epoll_wait failed: nothing was taken from the ready list, so
// the next poll finds it all. A signal (EINTR) is counted and retried;
// anything else means the epoll set itself is broken (a weft bug), and
// going on would spin without serving: stop, saying so.
void EpollBackend::wait_failed(int error, Stats& stats) {
  if (error == EINTR) {
    ++stats.poll_failures;
    return;
  }
  std::fprintf(stderr, "weft: epoll_wait failed (%s); %zu operations waiting\n", std::strerror(error),
               static_cast<std::size_t>(waiting_.load(std::memory_order_relaxed)));
  std::abort();
}

void EpollBackend::poll(bool block, Deadline wake_by, Stats& stats) {
  owner.check("EpollBackend", "poll");
  timespec timeout{0, 0};
  timespec* wait = &timeout;
  if (block) {
    if (wake_by == kNoDeadline) {
      wait = nullptr;
    } else {
      timeout = io::time_left<timespec>(wake_by);
    }
  }
  auto g = guard();  // held across the wait: no rescue while the owner polls
  ++polls_;
  if (!owed_.empty()) {  // what a rescue left comes first: do not wait
    timeout = {0, 0};
    wait = &timeout;
  }
  epoll_event events[256];
  ++stats.epoll_waits;
  // No more than the run queue takes (Poller::room); the rest stay on the
  // kernel's ready list, in order, for the next poll. At least a few, so
  // that a full queue still lets some readiness in.
  const int max = static_cast<int>(std::clamp<std::size_t>(room, 16, 256));
  const int n = wait_for_events(epoll_fd_, events, max, wait);
  if (n < 0) [[unlikely]]
    wait_failed(errno, stats);
  if (n > 0) WEFT_PROBE1(complete, n);
  for (const auto& [fd, write] : owed_) {
    if (FdState* st = find(fd)) retry(*st, write);
  }
  owed_.clear();
  for (int i = 0; i < n; ++i) {
    auto* st = static_cast<FdState*>(events[i].data.ptr);
    if (st == nullptr) {
      std::uint64_t drained;
      while (::read(wake_fd_, &drained, sizeof drained) > 0) {
      }
      // After draining, never before: a waker that claimed the flag before
      // this point may have had its write drained, and must be seen here.
      wake_flag_.consumed();
      continue;
    }
    const std::uint32_t ev = events[i].events;
    if ((ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0) retry(*st, false);
    if ((ev & (EPOLLOUT | EPOLLHUP | EPOLLERR)) != 0) retry(*st, true);
  }
}

void EpollBackend::wake() {
  if (!wake_flag_.claim()) return;  // one is on its way
  const std::uint64_t one = 1;
  (void)!::write(wake_fd_, &one, sizeof one);
}

bool EpollBackend::cancel_all(Stats&) {
  auto g = guard();
  for (FdState* st : fds_) {
    if (st != nullptr) fail_waiters(*st, ECANCELED);
  }
  return true;  // file operations on the pool are the worker's to wait for
}

bool EpollBackend::drain(Stats&) { return true; }  // closes are immediate here

// ---- listeners -------------------------------------------------------------------

io::Listener* EpollBackend::open_listener(int fd) {
  owner.check("EpollBackend", "open_listener");
  auto g = guard();
  auto* l = new EpollListener(this, fd);
  fibers::link_front<&EpollListener::prev, &EpollListener::next>(listeners_, l);
  return l;
}

void EpollBackend::close_listener(io::Listener* listener) {
  owner.check("EpollBackend", "close_listener");
  auto g = guard();
  unlink_listener(static_cast<EpollListener*>(listener));
}

void EpollBackend::unlink_listener(EpollListener* l) {
  if (FdState* st = find(l->fd)) {
    while (!st->read.waiting.empty()) finish(*pop_waiter(st->read), -ECANCELED);
  }
  fibers::unlink<&EpollListener::prev, &EpollListener::next>(listeners_, l);
  delete l;
}

}  // namespace weft::epoll
