// weft/io/copy.h — moving bytes between descriptors without a user-space
// buffer: a file to a socket (serving a file), a socket to a file (an
// upload), a socket to a socket (a proxy), a file to a file.
//
// Between two files the kernel copies (copy_file_range: a reflink or a
// server-side copy where the file system can). Otherwise the bytes go
// through a pipe the copy owns, by splice: from the source into the pipe,
// then from the pipe into the destination, up to 1 MiB at a time. On the
// io_uring backend both moves are ring operations; on epoll a file's side
// runs on the blocking pool and a socket's or pipe's side is attempted
// non-blocking and waits for readiness. A stream end is polled for
// readiness before each move, so no kernel thread sits in a splice
// waiting for a peer.
#pragma once

#include <cstdint>

#include <weft/fibers/cancel.h>
#include <weft/fibers/result.h>
#include <weft/io/file.h>
#include <weft/io/net.h>
#include <weft/io/stream.h>

namespace weft::os {

// One end of a copy: a file from an offset, or a stream (a socket, a pipe,
// a terminal) at its own position. Refers to the object; keep it alive.
class CopyEnd {
 public:
  CopyEnd(fs::File& file, std::uint64_t offset = 0)  // NOLINT(google-explicit-constructor)
      : fd_(file.native_handle()), offset_(offset), file_(true) {}
  CopyEnd(net::StreamSocket& socket) : fd_(socket.native_handle()) {}  // NOLINT
  CopyEnd(Stream& stream) : fd_(stream.native_handle()) {}             // NOLINT

  int fd() const { return fd_; }
  bool is_file() const { return file_; }
  std::uint64_t offset() const { return offset_; }  // files only

 private:
  int fd_ = -1;
  std::uint64_t offset_ = 0;  // files only
  bool file_ = false;
};

// No limit: copy until the source ends.
inline constexpr std::uint64_t kToTheEnd = ~std::uint64_t{0};

// Copies up to `length` bytes from `from` to `to`, stopping early where the
// source ends (a file's end, a peer's shutdown). Returns the bytes copied.
// The deadline and the cancel token bound the whole copy; on an error the
// bytes moved so far have been written, the rest is lost with the error.
Result<std::uint64_t> copy(CopyEnd from, CopyEnd to, std::uint64_t length = kToTheEnd,
                           const WaitOptions& options = {});

}  // namespace weft::os
