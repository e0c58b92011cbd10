#include <weft/uring/io.h>

#include <unistd.h>

#include <cerrno>
#include <stdexcept>
#include <string>

namespace weft::uring {
namespace {

thread_local Backend* t_backend = nullptr;


}  // namespace

Backend* current_backend() noexcept { return t_backend; }

BackendBinding::BackendBinding(Backend* backend) : previous_(t_backend) { t_backend = backend; }
BackendBinding::~BackendBinding() { t_backend = previous_; }

Backend& require_backend(const char* what) {
  fibers::Worker* w = fibers::Worker::current();
  if (t_backend == nullptr || w == nullptr || !w->on_fiber()) {
    throw std::logic_error(std::string(what) + " must be called from a fiber of a running weft::Runtime");
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
  if (backend.submit(op)) return op.result;
  if (token != nullptr) {
    op.cancel_registration.op = &op;
    op.cancel_registration.on_cancel = [](CancelToken::Registration* r) {
      if (Backend* b = current_backend()) b->cancel(*static_cast<Operation::Cancel*>(r)->op);
    };
    token->add(&op.cancel_registration);
  }
  worker->park();
  if (token != nullptr) token->remove(&op.cancel_registration);
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
