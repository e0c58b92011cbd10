// weft/io/file.h — files for fibers.
//
//   auto f = weft::fs::File::open("data.bin", O_RDWR | O_CREAT).value();
//   f.write_at(bytes, 0).value();
//   f.fsync().value();
//
// Reads and writes name their offset (there is no shared file position, so
// fibers never race on one). Every call parks only its fiber; missing files
// are std::errc::no_such_file_or_directory, and so on, as values.
//
// Thread rules: a File is used by fibers of the runtime that opened it.
#pragma once

#include <fcntl.h>
#include <sys/stat.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <weft/fibers/cancel.h>
#include <weft/fibers/result.h>
#include <weft/io/buffer.h>
#include <weft/io/descriptor.h>

namespace weft::fs {

class File {
 public:
  File() = default;
  explicit File(int fd) : fd_(fd) {}
  File(File&& other) noexcept : fd_(std::move(other.fd_)) {}
  File& operator=(File&& other) noexcept;
  ~File();

  // open(2) flags (O_CLOEXEC is always added) and the mode for O_CREAT.
  static Result<File> open(const std::string& path, int flags = O_RDONLY, mode_t mode = 0644,
                           const WaitOptions& options = {});

  // Reads up to buffer.size bytes at `offset`; 0 at end of file.
  Result<std::size_t> read_at(MutableBuffer buffer, std::uint64_t offset,
                              const WaitOptions& options = {});
  // Writes up to buffer.size bytes at `offset`; returns how many.
  Result<std::size_t> write_at(ConstBuffer buffer, std::uint64_t offset,
                               const WaitOptions& options = {});
  // Writes the whole buffer at `offset`.
  Result<void> write_all_at(ConstBuffer buffer, std::uint64_t offset,
                            const WaitOptions& options = {});
  // Gathers several buffers into one write at `offset` (pwritev): some of
  // the first kMaxBuffers of them, in order; returns how many bytes.
  static constexpr std::size_t kMaxBuffers = 16;
  Result<std::size_t> write_vectored_at(std::span<const ConstBuffer> buffers, std::uint64_t offset,
                                        const WaitOptions& options = {});
  // Every byte of every buffer, one after another from `offset`.
  Result<void> write_all_vectored_at(std::span<const ConstBuffer> buffers, std::uint64_t offset,
                                     const WaitOptions& options = {});
  // Flushes to stable storage; `data_only` skips metadata (fdatasync).
  Result<void> fsync(bool data_only = false);
  Result<struct statx> stat();
  Result<void> close();

  bool is_open() const { return fd_ >= 0; }
  int native_handle() const { return fd_; }

 private:
  io::Descriptor fd_;
};

// statx(2) of a path.
Result<struct statx> stat(const std::string& path);

// The file system, each call one operation on the ring (mkdirat,
// renameat, unlinkat, linkat, symlinkat) or on the blocking pool (epoll).
// Errors are those of the system call (no_such_file_or_directory,
// file_exists, directory_not_empty, ...).
Result<void> create_directory(const std::string& path, mode_t mode = 0755, const WaitOptions& options = {});
Result<void> rename(const std::string& from, const std::string& to, const WaitOptions& options = {});
// A file or symbolic link (unlink).
Result<void> remove(const std::string& path, const WaitOptions& options = {});
// An empty directory (rmdir).
Result<void> remove_directory(const std::string& path, const WaitOptions& options = {});
Result<void> hard_link(const std::string& existing, const std::string& link, const WaitOptions& options = {});
Result<void> symlink(const std::string& target, const std::string& link, const WaitOptions& options = {});

// The whole file. The deadline covers the whole call.
Result<std::string> read_file(const std::string& path, const WaitOptions& options = {});
// Replaces `path` with `bytes` atomically: written to a temporary file in
// the same directory, flushed (fsync), then renamed over `path`. A reader
// sees the old content or the new, never a part; after a crash, one of the
// two. The new file has `mode` (before the umask).
Result<void> write_file(const std::string& path, ConstBuffer bytes, mode_t mode = 0644,
                        const WaitOptions& options = {});
// The names in a directory, without "." and "..", in no set order (on the
// blocking pool: there is no ring operation for getdents).
Result<std::vector<std::string>> list_directory(const std::string& path);

}  // namespace weft::fs
