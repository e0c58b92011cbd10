#include <weft/uring/io.h>

#include <unistd.h>

#include <cerrno>
#include <stdexcept>
#include <string>

#if __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#define WEFT_HAVE_MEMCHECK 1
#endif

namespace weft::uring {
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

}  // namespace

Backend* current_backend() noexcept { return t_backend; }

BackendBinding::BackendBinding(Backend* backend) : previous_(t_backend) { t_backend = backend; }
BackendBinding::~BackendBinding() { t_backend = previous_; }

Backend& require_backend(const char* what) {
  fibers::Worker* w = fibers::Worker::current();
  if (t_backend == nullptr || w == nullptr || !w->on_fiber()) {
    throw std::logic_error(std::string(what) +
                           " must be called from a fiber of a running weft::Runtime");
  }
  return *t_backend;
}

std::int64_t perform(Operation& op) {
  Backend& backend = require_backend("weft I/O");
  fibers::Worker* worker = fibers::Worker::current();
  CancelToken* token = op.options.cancel;
  if (token != nullptr && token->cancelled()) return -ECANCELED;
  if (op.options.deadline != kNoDeadline && op.options.deadline <= Clock::now()) return -ETIMEDOUT;
  op.worker = worker;
  op.fiber = worker->current_fiber();
  if (backend.submit(op)) {
    tell_memcheck_what_the_kernel_wrote(op);
    return op.result;
  }
  if (token != nullptr) {
    op.cancel_registration.op = &op;
    op.cancel_registration.on_cancel = [](CancelToken::Registration* r) {
      if (Backend* b = current_backend()) b->cancel(*static_cast<Operation::Cancel*>(r)->op);
    };
    token->add(&op.cancel_registration);
  }
  op.abandon.op = &op;
  op.abandon.run = [](fibers::AbandonHook* h) {
    Operation* o = static_cast<Operation::Abandon*>(h)->op;
    if (o->options.cancel != nullptr) o->options.cancel->remove(&o->cancel_registration);
    // A helper thread that never finished may still hold the record: leak it.
    if (o->pool_job.op == nullptr || o->worker->remote_settled()) delete o;
  };
  op.fiber->abandon_hook = &op.abandon;
  worker->park();
  op.fiber->abandon_hook = nullptr;
  if (token != nullptr) token->remove(&op.cancel_registration);
  tell_memcheck_what_the_kernel_wrote(op);
  return op.result;
}

Result<void> close_descriptor(int& fd) {
  if (fd < 0) return errno_error(EBADF);
  const int closing = fd;
  fd = -1;
  if (current_backend() != nullptr && fibers::Worker::current() != nullptr &&
      fibers::Worker::current()->on_fiber()) {
    OperationPtr op = make_operation(OpKind::close, closing, {});
    return to_void(perform(*op));
  }
  return ::close(closing) == 0 ? Result<void>() : Result<void>(errno_error(errno));
}

void close_descriptor_quietly(int& fd) noexcept {
  if (fd < 0) return;
  const int closing = fd;
  fd = -1;
  if (Backend* b = current_backend()) {
    b->close_in_background(closing);
  } else {
    ::close(closing);
  }
}

}  // namespace weft::uring
