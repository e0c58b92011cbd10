// weft/io/stream.h — a byte stream over any descriptor, and readiness waits.
//
//   auto [r, w] = weft::os::Stream::pipe().value();
//   w.write_all(weft::ConstBuffer("hi", 2)).value();
//   char buf[2];
//   r.read_exact(weft::MutableBuffer(buf, 2)).value();
//
//   auto in = weft::os::Stream::standard_input().value();  // a copy of fd 0
//
// A Stream reads and writes at the descriptor's own position, for whatever
// reads and writes: pipes and FIFOs, terminals, eventfd, character devices,
// sockets, and files read front to back. Every call parks only its fiber and
// takes WaitOptions (a deadline, a cancel token), as sockets do.
//
// wait_readable / wait_writable park the calling fiber until a descriptor
// someone else reads or writes is ready: a library that owns its sockets
// (libcurl's multi-socket interface, c-ares) is driven from fibers with
// them. They return the poll(2) events that became true (POLLIN, POLLOUT,
// POLLHUP, POLLERR, ...); a regular file is always ready.
//
// On the epoll backend a descriptor becomes O_NONBLOCK the first time a
// fiber waits on it, and stays so. That flag belongs to the open file, which
// a copy of stdin shares with every process that has it open (a shell's
// terminal): give such a program the ring, or expect the shell to see it.
//
// Thread rules: a Stream is used by fibers of the runtime that made it; one
// fiber may read while another writes. wait_readable/wait_writable: any
// fiber, one waiter per descriptor and direction.
#pragma once

#include <cstddef>
#include <span>
#include <utility>

#include <weft/fibers/cancel.h>
#include <weft/fibers/result.h>
#include <weft/io/buffer.h>
#include <weft/io/descriptor.h>

namespace weft::os {

class Stream {
 public:
  Stream() = default;
  // Takes ownership of `fd`.
  explicit Stream(int fd) : fd_(fd) {}
  Stream(Stream&& other) noexcept : fd_(std::move(other.fd_)) {}
  Stream& operator=(Stream&& other) noexcept;
  ~Stream();

  // A pipe: {read end, write end}, both close-on-exec.
  static Result<std::pair<Stream, Stream>> pipe();
  // Copies of descriptors 0, 1 and 2 (dup: closing the stream leaves the
  // process's own open).
  static Result<Stream> standard_input();
  static Result<Stream> standard_output();
  static Result<Stream> standard_error();

  // Reads what is available, at most buffer.size bytes; 0 at the end (the
  // writer closed, end of file).
  Result<std::size_t> read(MutableBuffer buffer, const WaitOptions& options = {});
  // Writes some of the buffer; returns how much. A pipe whose reader is gone
  // is std::errc::broken_pipe (the runtime ignores SIGPIPE).
  Result<std::size_t> write(ConstBuffer buffer, const WaitOptions& options = {});
  // Fills the whole buffer; errc::end_of_stream if the end comes first. The
  // deadline covers the whole call.
  Result<void> read_exact(MutableBuffer buffer, const WaitOptions& options = {});
  // Writes the whole buffer.
  Result<void> write_all(ConstBuffer buffer, const WaitOptions& options = {});
  // Gathers several buffers into one write (writev): writes some of the
  // first kMaxBuffers of them, in order, and returns how many bytes.
  static constexpr std::size_t kMaxBuffers = 16;
  Result<std::size_t> write_vectored(std::span<const ConstBuffer> buffers, const WaitOptions& options = {});
  // Writes every byte of every buffer (any number of them), kMaxBuffers at
  // a time, resuming a short write where it stopped. The deadline covers
  // the whole call.
  Result<void> write_all_vectored(std::span<const ConstBuffer> buffers, const WaitOptions& options = {});
  // Cancels other fibers' calls on it and closes it.
  Result<void> close();

  bool is_open() const { return fd_ >= 0; }
  int native_handle() const { return fd_; }
  // Gives up ownership of the descriptor.
  int release() { return fd_.take(); }

 private:
  io::Descriptor fd_;
};

// Parks the calling fiber until `fd` is readable (POLLIN) or writable
// (POLLOUT), or has hung up or failed; returns the events that are true.
// Does not own, read or close `fd`. EBADF for a descriptor that is not open.
Result<short> wait_readable(int fd, const WaitOptions& options = {});
Result<short> wait_writable(int fd, const WaitOptions& options = {});

}  // namespace weft::os
