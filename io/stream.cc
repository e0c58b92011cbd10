#include <weft/io/stream.h>

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <cerrno>

#include <weft/io/io.h>

namespace weft::os {
namespace {

using io::make_operation;
using io::OpKind;
using io::perform;

Result<Stream> copy_of(int fd) {
  const int copy = ::fcntl(fd, F_DUPFD_CLOEXEC, 3);
  if (copy < 0) return errno_error(errno);
  return Stream(copy);
}

Result<short> wait_for(int fd, short events, const WaitOptions& options) {
  if (fd < 0) return errno_error(EBADF);
  auto op = make_operation(OpKind::poll, fd, options);
  op->flags = events;
  const std::int64_t r = perform(*op);
  if (r < 0) return errno_error(static_cast<int>(-r));
  if ((r & POLLNVAL) != 0) return errno_error(EBADF);
  return static_cast<short>(r);
}

}  // namespace

// The descriptor slot closes what it held (io/descriptor.h).
Stream& Stream::operator=(Stream&& other) noexcept = default;
Stream::~Stream() = default;

Result<std::pair<Stream, Stream>> Stream::pipe() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return errno_error(errno);
  return std::pair<Stream, Stream>(Stream(fds[0]), Stream(fds[1]));
}

Result<Stream> Stream::standard_input() { return copy_of(STDIN_FILENO); }
Result<Stream> Stream::standard_output() { return copy_of(STDOUT_FILENO); }
Result<Stream> Stream::standard_error() { return copy_of(STDERR_FILENO); }

Result<std::size_t> Stream::read(MutableBuffer buffer, const WaitOptions& options) {
  if (fd_ < 0) return errno_error(EBADF);
  auto op = make_operation(OpKind::read, fd_, options);
  op->buf = buffer.data;
  op->len = io::chunk(buffer.size);
  op->offset = io::kCurrentPosition;
  return io::to_size(perform(*op));
}

Result<std::size_t> Stream::write(ConstBuffer buffer, const WaitOptions& options) {
  if (fd_ < 0) return errno_error(EBADF);
  auto op = make_operation(OpKind::write, fd_, options);
  op->buf = const_cast<void*>(buffer.data);
  op->len = io::chunk(buffer.size);
  op->offset = io::kCurrentPosition;
  return io::to_size(perform(*op));
}

static_assert(Stream::kMaxBuffers == io::kMaxBuffers);

Result<std::size_t> Stream::write_vectored(std::span<const ConstBuffer> buffers, const WaitOptions& options) {
  return io::write_gathered(OpKind::writev, fd_, io::kCurrentPosition, buffers, options);
}

Result<void> Stream::write_all_vectored(std::span<const ConstBuffer> buffers, const WaitOptions& options) {
  return io::write_all_gathered_by(buffers, [&](std::span<const ConstBuffer> b) { return write_vectored(b, options); });
}

Result<void> Stream::read_exact(MutableBuffer buffer, const WaitOptions& options) {
  return io::read_exact_by(buffer, [&](MutableBuffer b) { return read(b, options); });
}

Result<void> Stream::write_all(ConstBuffer buffer, const WaitOptions& options) {
  return io::write_all_by(buffer, [&](ConstBuffer b) { return write(b, options); });
}

Result<void> Stream::close() { return io::close_descriptor(fd_); }

Result<short> wait_readable(int fd, const WaitOptions& options) { return wait_for(fd, POLLIN, options); }
Result<short> wait_writable(int fd, const WaitOptions& options) { return wait_for(fd, POLLOUT, options); }

}  // namespace weft::os
