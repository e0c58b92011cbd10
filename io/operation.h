// Operation: one I/O request of one fiber, from submission to completion.
//
// The record comes from mimalloc through a per-thread cache (it must outlive
// every completion the kernel will post for it, and a fiber's frame is the
// wrong place to bet on that). The fiber that performs it owns it: it fills it, hands it to the
// backend, parks, and frees it once resumed. The backend touches it only
// between submission and the completion that readies the fiber.
//
// Thread rules: owner worker only.
#pragma once

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>

#include <atomic>
#include <cstdint>
#include <memory>

#include <linux/time_types.h>

#include <weft/alloc/heap.h>
#include <weft/fibers/blocking.h>
#include <weft/fibers/cancel.h>
#include <weft/fibers/timer.h>
#include <weft/fibers/worker.h>

namespace weft::io {

enum class OpKind : std::uint8_t {
  nop,
  read,     // read(2) at an offset (files), or at kCurrentPosition (streams)
  write,    // write(2) at an offset (files), or at kCurrentPosition (streams)
  writev,   // writev(2) of msg.msg_iov, at an offset or kCurrentPosition, as write
  recv,     // sockets
  send,     // sockets, MSG_NOSIGNAL always
  sendmsg,  // datagrams with an address
  recvmsg,
  accept,  // served from the listener's queue (multishot)
  connect,
  shutdown,
  close,  // cancels what else is in flight on the descriptor, then closes it
  openat,
  statx,
  fsync,
  mkdirat,    // path, mode
  renameat,   // path -> path2
  unlinkat,   // path; flags: AT_REMOVEDIR for a directory
  linkat,     // path (existing) -> path2 (new)
  symlinkat,  // path (target) -> path2 (the link)
  poll,  // readiness of any descriptor: flags holds POLLIN or POLLOUT; the result is revents
  splice,  // len bytes between fd (at offset, or kCurrentPosition) and pipe_fd; to_pipe says which way
  // A child's exit: fd is its pidfd, buf a siginfo_t. Result 0: reaped
  // (IORING_OP_WAITID), buf filled; above 0: the backend only saw the pidfd
  // turn readable (it exited; the caller reaps it).
  waitid,
};

// A read's or write's offset for descriptors without one (pipes, terminals,
// character devices) and for a file's own position.
constexpr std::uint64_t kCurrentPosition = ~std::uint64_t{0};

class Backend;
class Listener;

struct Operation {
  // Records come from a small per-thread cache on top of mimalloc: an I/O
  // call allocates and frees one, so the cache saves a malloc/free pair.
  static void* operator new(std::size_t size);
  static void operator delete(void* p) noexcept;

  OpKind kind = OpKind::nop;
  int fd = -1;
  int flags = 0;  // msg flags, open flags, fsync flags, shutdown how
  void* buf = nullptr;
  std::uint32_t len = 0;
  std::uint64_t offset = 0;
  const char* path = nullptr;   // openat, statx and the *at operations
  const char* path2 = nullptr;  // renameat, linkat, symlinkat: the second path
  int pipe_fd = -1;             // splice: the pipe on the other side of fd
  bool to_pipe = false;         // splice: fd -> pipe_fd (else pipe_fd -> fd)
  mode_t mode = 0;
  struct statx* statx_buf = nullptr;
  sockaddr* addr = nullptr;  // connect
  socklen_t addr_len = 0;
  msghdr msg{};  // sendmsg, recvmsg
  iovec iov{};
  Listener* listener = nullptr;  // accept

  WaitOptions options;  // perform() folds the fiber's scope in

  // Filled by perform() and the backend.
  fibers::Worker* worker = nullptr;  // the worker whose backend runs it
  Backend* backend = nullptr;
  fibers::Fiber* fiber = nullptr;
  // Watched while in flight with a cancel token (Backend::watch).
  Operation* watch_prev = nullptr;
  Operation* watch_next = nullptr;
  bool watched = false;
  std::atomic<bool> cancel_wanted{false};  // a cancel from another thread
  std::int64_t result = 0;   // >= 0, or -errno
  std::uint8_t pending = 0;  // completions still expected
  bool timed_out = false;    // the linked timeout fired
  bool timeout_alone = false;  // ring: a short submit cut its linked timeout off (uring/split_link.cc)
  bool cancel_sent = false;
  bool buffer_select = false;  // a receive into a provided buffer (ring only)
  bool zero_copy = false;          // a send the ring made IORING_OP_SEND_ZC
  bool zero_copy_refused = false;  // ... and the socket refused it (sent again, plain)
  std::uint64_t trace_id = 0;  // while traced (fibers/trace.h): from submission to completion
  __kernel_timespec deadline_ts{};
  // For waits the backend serves in user space (accept): their deadline and
  // their place in the listener's queue.
  struct Timer : fibers::Timer {
    Operation* op = nullptr;
  } timer;
  Operation* next_waiter = nullptr;
  bool queued = false;
  // The epoll backend: where the operation waits (a descriptor's state, and
  // which of its two lists), whether a connect is under way, and the job
  // that runs a file operation on the blocking pool.
  void* waits_in = nullptr;
  bool waits_to_write = false;
  std::uint64_t linked_at_poll = 0;  // the backend's poll count when it began to wait
  std::uint64_t linked_at_park = 0;  // ... and its count of I/O park commits (epoll rescue)
  bool connect_started = false;
  // For perform()'s park commit, once the fiber has switched out: a file
  // job to hand to the blocking pool (epoll), a cancel asked for while the
  // operation was being started.
  bool pool_pending = false;
  bool cancel_pending = false;
  struct PoolJob : fibers::BlockingJob {
    Operation* op = nullptr;  // set while a helper thread may hold the job
  } pool_job;
  // Its options with the fiber's scope folded in (perform() sets it up and
  // writes the result back into `options`).
  struct Cancel : fibers::WaitTerms {
    Operation* op = nullptr;
  } terms;
  // If the runtime abandons the fiber, its frame (and the OperationPtr in
  // it) never unwinds: this unregisters and frees the record instead.
  struct Abandon : fibers::AbandonHook {
    Operation* op = nullptr;
  } abandon;
};

// "read", "recv", ...: the operation's name in traces and messages.
const char* op_name(OpKind kind) noexcept;

using OperationPtr = std::unique_ptr<Operation>;

inline OperationPtr make_operation(OpKind kind, int fd, const WaitOptions& options) {
  OperationPtr op(new Operation);
  op->kind = kind;
  op->fd = fd;
  op->options = options;
  return op;
}

// Runs `op` for the calling fiber: submits it, parks until it completes, and
// returns its result (>= 0, or -errno; -fibers::kDeadlineExceeded when its deadline passed,
// -ECANCELED when its token was cancelled). Throws std::logic_error when
// called outside a fiber of a running weft::Runtime.
std::int64_t perform(Operation& op);

}  // namespace weft::io
