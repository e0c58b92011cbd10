#include <weft/io/copy.h>

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <optional>

#include <weft/fibers/blocking.h>
#include <weft/io/io.h>

namespace weft::os {
namespace {

using io::make_operation;
using io::OpKind;
using io::perform;

constexpr int kPipeSize = 1 << 20;                  // asked for; the kernel may give less
constexpr std::uint64_t kKernelCopyChunk = 16 << 20;  // one copy_file_range call on the pool

bool past(const WaitOptions& options) {
  return options.deadline != kNoDeadline && options.deadline <= Clock::now();
}

std::error_code given_up(const WaitOptions& options) {
  if (options.cancel != nullptr && options.cancel->cancelled()) return errno_error(ECANCELED);
  if (past(options)) return errno_error(fibers::kDeadlineExceeded);
  return {};
}

// One splice between `end` and the pipe: up to `len` bytes, either way.
// A stream end is polled first, so that the splice finds it ready.
Result<std::size_t> move(const CopyEnd& end, std::uint64_t at, int pipe_fd, bool to_pipe, std::size_t len,
                         const WaitOptions& options) {
  if (!end.is_file()) {
    Result<short> ready = to_pipe ? wait_readable(end.fd(), options) : wait_writable(end.fd(), options);
    if (!ready) return ready.error();
  }
  auto op = make_operation(OpKind::splice, end.fd(), options);
  op->pipe_fd = pipe_fd;
  op->to_pipe = to_pipe;
  op->len = io::chunk(len);
  op->offset = end.is_file() ? at : io::kCurrentPosition;
  return io::to_size(perform(*op));
}

Result<std::uint64_t> through_a_pipe(const CopyEnd& from, const CopyEnd& to, std::uint64_t length,
                                     const WaitOptions& options) {
  Result<std::pair<Stream, Stream>> pipe = Stream::pipe();
  if (!pipe) return pipe.error();
  const int in = pipe->second.native_handle();   // bytes go in here
  const int out = pipe->first.native_handle();   // ... and come out here
  (void)::fcntl(in, F_SETPIPE_SZ, kPipeSize);    // best effort: fewer, larger moves
  const int size = ::fcntl(in, F_GETPIPE_SZ);
  const std::size_t capacity = size > 0 ? static_cast<std::size_t>(size) : 65536;
  std::uint64_t done = 0;
  while (done < length) {
    const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(length - done, capacity));
    Result<std::size_t> got = move(from, from.offset() + done, in, true, want, options);
    if (!got) return got.error();
    if (*got == 0) break;  // the source ended
    for (std::size_t left = *got; left > 0;) {
      Result<std::size_t> put = move(to, to.offset() + done, out, false, left, options);
      if (!put) return put.error();
      if (*put == 0) return errno_error(EPIPE);  // a destination that takes nothing
      left -= *put;
      done += *put;
    }
  }
  return done;
}

// File to file: the kernel copies, on the pool, a chunk per call so that a
// deadline or a cancel is seen between chunks. Empty when the kernel cannot
// copy between these two (another file system, a special file): the caller
// goes through a pipe instead.
std::optional<Result<std::uint64_t>> kernel_copy(const CopyEnd& from, const CopyEnd& to, std::uint64_t length,
                                                 const WaitOptions& options) {
  std::uint64_t done = 0;
  while (done < length) {
    if (std::error_code e = given_up(options)) return Result<std::uint64_t>(e);
    const std::uint64_t want = std::min(length - done, kKernelCopyChunk);
    const std::int64_t n = weft::blocking([&]() -> std::int64_t {
      loff_t in_at = static_cast<loff_t>(from.offset() + done);
      loff_t out_at = static_cast<loff_t>(to.offset() + done);
      const ssize_t r = ::copy_file_range(from.fd(), &in_at, to.fd(), &out_at, want, 0);
      return r >= 0 ? r : -errno;
    });
    if (n < 0) {
      const bool unsupported = n == -EXDEV || n == -EINVAL || n == -EOPNOTSUPP || n == -ENOSYS;
      if (done == 0 && unsupported) return std::nullopt;
      return Result<std::uint64_t>(errno_error(static_cast<int>(-n)));
    }
    if (n == 0) break;
    done += static_cast<std::uint64_t>(n);
  }
  return Result<std::uint64_t>(done);
}

}  // namespace

Result<std::uint64_t> copy(CopyEnd from, CopyEnd to, std::uint64_t length, const WaitOptions& options) {
  io::require_backend("weft::os::copy");
  if (from.fd() < 0 || to.fd() < 0) return errno_error(EBADF);
  if (std::error_code e = given_up(options)) return e;
  if (from.is_file() && to.is_file()) {
    if (auto r = kernel_copy(from, to, length, options)) return std::move(*r);
  }
  return through_a_pipe(from, to, length, options);
}

}  // namespace weft::os
