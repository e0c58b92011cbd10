#include <weft/io/file.h>

#include <liburing.h>
#include <cerrno>

#include <algorithm>
#include <climits>

#include <weft/io/io.h>

namespace weft::fs {
namespace {

using io::make_operation;
using io::OpKind;
using io::perform;

using io::chunk;

Result<struct statx> run_statx(int dirfd, const char* path, int flags) {
  auto op = make_operation(OpKind::statx, dirfd, {});
  struct statx result {};
  op->path = path;
  op->flags = flags;
  op->statx_buf = &result;
  if (const std::int64_t r = perform(*op); r < 0) return errno_error(static_cast<int>(-r));
  return result;
}

}  // namespace

// The descriptor slot closes what it held (io/descriptor.h).
File& File::operator=(File&& other) noexcept = default;
File::~File() = default;

Result<File> File::open(const std::string& path, int flags, mode_t mode,
                        const WaitOptions& options) {
  auto op = make_operation(OpKind::openat, -1, options);
  op->path = path.c_str();
  op->flags = flags;
  op->mode = mode;
  const std::int64_t r = perform(*op);
  if (r < 0) return errno_error(static_cast<int>(-r));
  return File(static_cast<int>(r));
}

Result<std::size_t> File::read_at(MutableBuffer buffer, std::uint64_t offset,
                                  const WaitOptions& options) {
  if (fd_ < 0) return errno_error(EBADF);
  auto op = make_operation(OpKind::read, fd_, options);
  op->buf = buffer.data;
  op->len = chunk(buffer.size);
  op->offset = offset;
  return io::to_size(perform(*op));
}

Result<std::size_t> File::write_at(ConstBuffer buffer, std::uint64_t offset,
                                   const WaitOptions& options) {
  if (fd_ < 0) return errno_error(EBADF);
  auto op = make_operation(OpKind::write, fd_, options);
  op->buf = const_cast<void*>(buffer.data);
  op->len = chunk(buffer.size);
  op->offset = offset;
  return io::to_size(perform(*op));
}

Result<void> File::write_all_at(ConstBuffer buffer, std::uint64_t offset,
                                const WaitOptions& options) {
  return io::write_all_by(buffer, [&](ConstBuffer b) {
    Result<std::size_t> r = write_at(b, offset, options);
    if (r) offset += *r;
    return r;
  });
}

Result<void> File::fsync(bool data_only) {
  if (fd_ < 0) return errno_error(EBADF);
  auto op = make_operation(OpKind::fsync, fd_, {});
  op->flags = data_only ? IORING_FSYNC_DATASYNC : 0;
  return io::to_void(perform(*op));
}

Result<struct statx> File::stat() {
  if (fd_ < 0) return errno_error(EBADF);
  return run_statx(fd_, "", AT_EMPTY_PATH);
}

Result<void> File::close() { return io::close_descriptor(fd_); }

Result<struct statx> stat(const std::string& path) { return run_statx(AT_FDCWD, path.c_str(), 0); }

}  // namespace weft::fs
