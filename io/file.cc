#include <weft/io/file.h>

#include <dirent.h>
#include <liburing.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <climits>
#include <cstring>

#include <weft/fibers/blocking.h>
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
  if (r < 0) return Error(errno_error(static_cast<int>(-r)), "open " + path);
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

static_assert(File::kMaxBuffers == io::kMaxBuffers);

Result<std::size_t> File::write_vectored_at(std::span<const ConstBuffer> buffers, std::uint64_t offset,
                                            const WaitOptions& options) {
  return io::write_gathered(OpKind::writev, fd_, offset, buffers, options);
}

Result<void> File::write_all_vectored_at(std::span<const ConstBuffer> buffers, std::uint64_t offset,
                                         const WaitOptions& options) {
  return io::write_all_gathered_by(buffers, [&](std::span<const ConstBuffer> b) {
    Result<std::size_t> r = write_vectored_at(b, offset, options);
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

Result<struct statx> stat(const std::string& path) {
  return annotate(run_statx(AT_FDCWD, path.c_str(), 0), [&] { return "stat " + path; });
}

namespace {

// `verb` names the call in an error: "<verb> <path>[ <second>]".
Result<void> path_operation(OpKind kind, const char* verb, const std::string& path, const std::string* second,
                            int flags, mode_t mode, const WaitOptions& options) {
  auto op = make_operation(kind, -1, options);
  op->path = path.c_str();
  op->path2 = second != nullptr ? second->c_str() : nullptr;
  op->flags = flags;
  op->mode = mode;
  return annotate(io::to_void(perform(*op)), [&] {
    std::string what = std::string(verb) + " " + path;
    if (second != nullptr) what += " " + *second;
    return what;
  });
}

}  // namespace

Result<void> create_directory(const std::string& path, mode_t mode, const WaitOptions& options) {
  return path_operation(OpKind::mkdirat, "mkdir", path, nullptr, 0, mode, options);
}

Result<void> rename(const std::string& from, const std::string& to, const WaitOptions& options) {
  return path_operation(OpKind::renameat, "rename", from, &to, 0, 0, options);
}

Result<void> remove(const std::string& path, const WaitOptions& options) {
  return path_operation(OpKind::unlinkat, "remove", path, nullptr, 0, 0, options);
}

Result<void> remove_directory(const std::string& path, const WaitOptions& options) {
  return path_operation(OpKind::unlinkat, "remove directory", path, nullptr, AT_REMOVEDIR, 0, options);
}

Result<void> hard_link(const std::string& existing, const std::string& link, const WaitOptions& options) {
  return path_operation(OpKind::linkat, "link", existing, &link, 0, 0, options);
}

Result<void> symlink(const std::string& target, const std::string& link, const WaitOptions& options) {
  return path_operation(OpKind::symlinkat, "symlink", target, &link, 0, 0, options);
}

Result<std::string> read_file(const std::string& path, const WaitOptions& options) {
  Result<File> f = File::open(path, O_RDONLY, 0, options);
  if (!f) return f.error();
  std::string out;
  std::uint64_t at = 0;
  for (;;) {
    if (out.size() - at < 16384) out.resize(std::max<std::size_t>(out.size() * 2, at + 65536));
    Result<std::size_t> n = f->read_at(MutableBuffer(out.data() + at, out.size() - at), at, options);
    if (!n) return Error(n.error(), "read " + path);
    if (*n == 0) break;
    at += *n;
  }
  out.resize(at);
  if (Result<void> c = f->close(); !c) return Error(c.error(), "close " + path);
  return out;
}

Result<void> write_file(const std::string& path, ConstBuffer bytes, mode_t mode, const WaitOptions& options) {
  // Beside the target (a rename does not cross file systems), named so
  // that two writers, in this process or another, never share one.
  static std::atomic<std::uint64_t> serial{0};
  const std::string temporary = path + ".weft-tmp." + std::to_string(::getpid()) + "." +
                                std::to_string(serial.fetch_add(1, std::memory_order_relaxed));
  Result<void> done = [&]() -> Result<void> {
    Result<File> f = File::open(temporary, O_WRONLY | O_CREAT | O_EXCL, mode, options);
    if (!f) return f.error();
    if (Result<void> w = f->write_all_at(bytes, 0, options); !w) return w.error();
    if (Result<void> s = f->fsync(); !s) return s.error();
    if (Result<void> c = f->close(); !c) return c.error();
    return rename(temporary, path, options);
  }();
  if (!done) (void)remove(temporary);  // nothing half-written stays behind
  return annotate(std::move(done), [&] { return "write " + path; });
}

Result<std::vector<std::string>> list_directory(const std::string& path) {
  return annotate(weft::blocking([&]() -> Result<std::vector<std::string>> {
    DIR* d = ::opendir(path.c_str());
    if (d == nullptr) return errno_error(errno);
    std::vector<std::string> names;
    errno = 0;
    while (const dirent* e = ::readdir(d)) {
      if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) names.emplace_back(e->d_name);
    }
    const int error = errno;
    ::closedir(d);
    if (error != 0) return errno_error(error);
    return names;
  }), [&] { return "list " + path; });
}

}  // namespace weft::fs
