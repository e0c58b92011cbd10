#include <weft/io/io.h>

#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <stdexcept>
#include <string>

#include <weft/sync/event.h>
#include <weft/fibers/scheduler.h>
#include <weft/fibers/trace.h>
#include <weft/fibers/intrusive_fifo.h>
#include <weft/io/operation.h>

#if __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#define WEFT_HAVE_MEMCHECK 1
#endif

namespace weft::io {
namespace {

thread_local Backend* t_backend = nullptr;

// The kernel filled these bytes behind Memcheck's back (io_uring writes
// asynchronously, not through a system call Valgrind can see); say so, or
// every read buffer looks uninitialised. No-op when not under Valgrind.
void tell_memcheck_what_the_kernel_wrote(const Operation& op) {
#ifdef WEFT_HAVE_MEMCHECK
  if (op.result <= 0 && op.kind != OpKind::statx) return;
  switch (op.kind) {
    case OpKind::read:
    case OpKind::recv:
      VALGRIND_MAKE_MEM_DEFINED(op.buf, static_cast<std::size_t>(op.result));
      break;
    case OpKind::recvmsg:
      VALGRIND_MAKE_MEM_DEFINED(op.iov.iov_base, static_cast<std::size_t>(op.result));
      VALGRIND_MAKE_MEM_DEFINED(op.msg.msg_name, op.msg.msg_namelen);
      break;
    case OpKind::statx:
      if (op.result == 0) VALGRIND_MAKE_MEM_DEFINED(op.statx_buf, sizeof(struct statx));
      break;
    default:
      break;
  }
#else
  (void)op;
#endif
}

// Ends the operation's span in the trace, if it has one still open.
inline void end_trace_span(Operation& op) {
  if (op.trace_id != 0) [[unlikely]]
    fibers::trace::io_end(&op.trace_id, op_name(op.kind), op.result, &op.worker->scheduler());
}

}  // namespace

Backend* current_backend() noexcept { return t_backend; }

// ---- cancelling from another worker ------------------------------------------------

void Backend::watch(Operation& op) {
  std::lock_guard<fibers::SpinLock> lock(watch_lock_);
  op.watched = true;
  fibers::link_front<&Operation::watch_prev, &Operation::watch_next>(watched_, &op);
}

void Backend::unlink_watched(Operation& op) {
  if (!op.watched) return;
  fibers::unlink<&Operation::watch_prev, &Operation::watch_next>(watched_, &op);
  op.watched = false;
}

void Backend::deliver(Operation& op) {
  // A rescuer may unlink watched operations meanwhile: `watched` is read
  // under the lock (unless this is a cancel of the owner's scan, which
  // holds it).
  if (op.options.cancel != nullptr) {
    if (scanning_) {
      unlink_watched(op);
    } else {
      std::lock_guard<fibers::SpinLock> lock(watch_lock_);
      unlink_watched(op);
    }
  }
  end_trace_span(op);
  op.worker->ready(op.fiber);
}

void Backend::request_cancel(Operation& op) {
  op.cancel_wanted.store(true, std::memory_order_release);
  cancels_asked_.store(true, std::memory_order_release);
  op.worker->post(&Backend::scan_cancel_requests, this);
}

// On the owning worker: cancel every watched operation someone asked to.
// Watched operations are still in flight, so still alive.
// The lock is held throughout, so no rescue finishes (and frees) an
// operation this walk is about to cancel.
void Backend::scan_cancel_requests(void* self) {
  auto* b = static_cast<Backend*>(self);
  std::lock_guard<fibers::SpinLock> lock(b->watch_lock_);
  b->scanning_ = true;
  for (Operation* op = b->watched_; op != nullptr;) {
    Operation* next = op->watch_next;  // cancel() may deliver (and unlink) op
    if (op->cancel_wanted.exchange(false, std::memory_order_acq_rel)) b->cancel(*op);
    op = next;
  }
  b->scanning_ = false;
}

BackendBinding::BackendBinding(Backend* backend) : previous_(t_backend) { t_backend = backend; }
BackendBinding::~BackendBinding() { t_backend = previous_; }

namespace {
bool on_a_runtime_fiber() {
  fibers::Worker* w = fibers::Worker::current();
  return t_backend != nullptr && w != nullptr && w->on_fiber();
}
}  // namespace

Backend& require_backend(const char* what) {
  if (!on_a_runtime_fiber())
    throw std::logic_error(std::string(what) + " must be called from a fiber of a running weft::Runtime");
  return *t_backend;
}

Backend& require_backend(OpKind kind) {
  if (on_a_runtime_fiber()) [[likely]]
    return *t_backend;
  return require_backend((std::string("weft I/O (") + op_name(kind) + ")").c_str());
}

// perform()'s park commit, on the worker's next context: what must wait
// until the fiber has switched out, because it may ready the fiber at once
// (from this thread, or from a helper that Worker::ready_remote() could send
// to another worker).
static bool after_parking(fibers::Fiber*, void* arg) {
  auto* op = static_cast<Operation*>(arg);
  if (op->pool_pending) {
    // (A job on the pool cannot be interrupted: a pending cancel is moot.)
    op->pool_pending = false;
    op->cancel_pending = false;
    const int rc = fibers::submit_blocking(op->pool_job);
    if (rc == 0) return true;  // the helper may ready the fiber, and the record go, at once
    op->pool_job.op = nullptr;  // no helper holds it
    op->worker->settle_remote();
    op->result = -rc;
    return false;  // resume now
  }
  // The backend is read first: a cancel may ready the fiber, which another
  // worker may then steal, run and finish (freeing the record) before this
  // returns.
  Backend* const backend = op->backend;
  if (op->cancel_pending) {
    op->cancel_pending = false;
    backend->cancel(*op);  // `op` may be gone from here on
  }
  if (backend->wants_park_commits) backend->park_committed();
  return true;
}

std::int64_t perform(Operation& op) {
  Backend& backend = require_backend(op.kind);
  fibers::Worker* worker = fibers::Worker::current();
  op.terms.set(op.options, worker->current_fiber()->scope);
  op.options.deadline = op.terms.deadline();
  op.options.cancel = op.terms.first_token();  // the backends: non-null when cancellable
  const bool cancellable = op.terms.cancellable();
  if (const int over = op.terms.over_before_start(); over != 0) [[unlikely]]
    return -over;
  op.worker = worker;
  op.backend = &backend;
  op.fiber = worker->current_fiber();
  if (fibers::trace::on()) [[unlikely]]
    fibers::trace::io_begin(&op.trace_id, op_name(op.kind), op.fd);
  if (backend.submit(op)) {
    end_trace_span(op);
    tell_memcheck_what_the_kernel_wrote(op);
    return op.result;
  }
  if (cancellable) {
    backend.watch(op);
    op.terms.op = &op;
    // Cancelled meanwhile: cancel once parked (an epoll cancel delivers at
    // once, and must not ready a fiber that is still running).
    if (!op.terms.watch([](fibers::WaitTerms* t) {
          // Under the token's lock: the operation cannot complete and go
          // away before this returns. Its own worker cancels it; anyone
          // else asks.
          Operation* o = static_cast<Operation::Cancel*>(t)->op;
          if (fibers::Worker::current() == o->worker) o->backend->cancel(*o);
          else o->backend->request_cancel(*o);
        }))
      op.cancel_pending = true;
  }
  op.abandon.op = &op;
  op.abandon.run = [](fibers::AbandonHook* h) {
    Operation* o = static_cast<Operation::Abandon*>(h)->op;
    if (o->terms.cancellable()) o->terms.unwatch();
    // A helper thread that never finished may still hold the record: leak it.
    if (o->pool_job.op == nullptr || o->worker->remote_settled()) delete o;
  };
  op.fiber->abandon_hook = &op.abandon;
  worker->park({op_name(op.kind), nullptr}, &after_parking, &op);
  op.fiber->abandon_hook = nullptr;
  end_trace_span(op);  // completed without deliver() (a pool job): the span ends here
  if (cancellable) op.terms.unwatch();
  tell_memcheck_what_the_kernel_wrote(op);
  return op.result;
}

// ---- closing -----------------------------------------------------------------------

namespace {

// Closing a descriptor on a runtime with several workers. Any worker's ring
// (or epoll set) may have requests pending on it, and each may only be
// touched from its own thread; a cancel matches requests by open file, so
// it must reach the kernel before the descriptor is closed (and its number
// reused). So every worker retires the descriptor on its own thread, and the
// close comes after the last one has.
struct Retirement {
  int fd;
  std::atomic<std::size_t> left;
  Event* done;  // a waiting close(): told when all have retired it
};

void retire_here(void* arg) {
  auto* r = static_cast<Retirement*>(arg);
  if (Backend* b = current_backend()) b->retire_fd(r->fd);
  if (r->left.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
  if (r->done != nullptr) {
    r->done->set();  // the closer's frame may be gone once this returns
  } else {
    ::close(r->fd);  // nobody waits: the last to retire it closes it
    delete r;
  }
}

// The scheduler to broadcast on, or null when one worker is enough (a single
// worker, or workers already stopping: every ring is quiet then).
fibers::Scheduler* several_workers() {
  fibers::Worker* w = fibers::Worker::current();
  if (w == nullptr) return nullptr;
  fibers::Scheduler& s = w->scheduler();
  return s.single() || s.stopping() ? nullptr : &s;
}

void broadcast(fibers::Scheduler& s, Retirement* r) {
  r->left.store(s.size(), std::memory_order_relaxed);
  for (std::size_t i = 0; i < s.size(); ++i) s.worker(i)->post(&retire_here, r);
}

}  // namespace

bool closes_everywhere() noexcept { return several_workers() != nullptr; }

Result<void> close_descriptor(Descriptor& fd) {
  const int closing = fd.take();
  if (closing < 0) return errno_error(EBADF);
  if (current_backend() != nullptr && fibers::Worker::current() != nullptr &&
      fibers::Worker::current()->on_fiber()) {
    if (fibers::Scheduler* s = several_workers()) {
      Event done;
      Retirement r{closing, {0}, &done};
      broadcast(*s, &r);
      (void)done.wait({.scoped = false});
      return ::close(closing) == 0 ? Result<void>() : Result<void>(errno_error(errno));
    }
    OperationPtr op = make_operation(OpKind::close, closing, {.scoped = false});
    return to_void(perform(*op));
  }
  return ::close(closing) == 0 ? Result<void>() : Result<void>(errno_error(errno));
}

void Descriptor::close_quietly() noexcept { close_descriptor_quietly(*this); }

void close_descriptor_quietly(Descriptor& fd) noexcept {
  const int closing = fd.take();
  if (closing < 0) return;
  if (fibers::Scheduler* s = several_workers()) {
    broadcast(*s, new Retirement{closing, {0}, nullptr});
  } else if (Backend* b = current_backend()) {
    b->close_in_background(closing);
  } else {
    ::close(closing);
  }
}

Result<std::size_t> write_gathered(OpKind kind, int fd, std::uint64_t offset, std::span<const ConstBuffer> buffers,
                                   const WaitOptions& options) {
  if (fd < 0) return errno_error(EBADF);
  // The iovecs live on this fiber's stack: it stays parked until the write
  // is over. At most kMaxChunk bytes in all, as for one write.
  iovec iov[kMaxBuffers];
  std::size_t count = 0;
  std::size_t total = 0;
  for (const ConstBuffer& b : buffers) {
    if (count == kMaxBuffers || total == kMaxChunk) break;
    if (b.size == 0) continue;
    const std::size_t n = std::min(b.size, kMaxChunk - total);
    iov[count++] = {const_cast<void*>(b.data), n};
    total += n;
  }
  if (count == 0) return std::size_t{0};
  auto op = make_operation(kind, fd, options);
  op->msg.msg_iov = iov;
  op->msg.msg_iovlen = count;
  op->offset = offset;
  return to_size(perform(*op));
}

}  // namespace weft::io
