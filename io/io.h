// Helpers the fiber-facing I/O classes (net.cc, file.cc) share.
//
// Thread rules: owner worker only, on a fiber unless stated otherwise.
#pragma once

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <span>

#include <weft/fibers/cancel.h>
#include <weft/fibers/result.h>
#include <weft/io/backend.h>
#include <weft/io/buffer.h>
#include <weft/io/descriptor.h>

namespace weft::io {

// The calling fiber's backend; throws std::logic_error naming `what` when
// called outside a fiber of a running weft::Runtime.
Backend& require_backend(const char* what);
// The same for an operation: the message names it ("weft I/O (statx)").
enum class OpKind : std::uint8_t;
Backend& require_backend(OpKind kind);

// A -errno result as an error_code; >= 0 as the value.
inline Result<std::size_t> to_size(std::int64_t r) {
  if (r < 0) return errno_error(static_cast<int>(-r));
  return static_cast<std::size_t>(r);
}
inline Result<void> to_void(std::int64_t r) {
  if (r < 0) return errno_error(static_cast<int>(-r));
  return {};
}

// One request moves at most this much; larger buffers take several.
constexpr std::size_t kMaxChunk = INT_MAX & ~std::size_t{4095};
inline std::uint32_t chunk(std::size_t n) {
  return static_cast<std::uint32_t>(n < kMaxChunk ? n : kMaxChunk);
}

// Fills the whole buffer by calls to `read` (MutableBuffer -> Result<size_t>,
// 0 at the end); errc::end_of_stream if the end comes first.
template <class Read>
Result<void> read_exact_by(MutableBuffer buffer, Read&& read) {
  auto* p = static_cast<char*>(buffer.data);
  std::size_t left = buffer.size;
  while (left > 0) {
    Result<std::size_t> r = read(MutableBuffer(p, left));
    if (!r) return r.error();
    if (*r == 0) return errc::end_of_stream;
    p += *r;
    left -= *r;
  }
  return {};
}

// Writes the whole buffer by calls to `write` (ConstBuffer -> Result<size_t>);
// a write that moves nothing is EIO (it would never end).
template <class Write>
Result<void> write_all_by(ConstBuffer buffer, Write&& write) {
  const auto* p = static_cast<const char*>(buffer.data);
  std::size_t left = buffer.size;
  while (left > 0) {
    Result<std::size_t> r = write(ConstBuffer(p, left));
    if (!r) return r.error();
    if (*r == 0) return errno_error(EIO);
    p += *r;
    left -= *r;
  }
  return {};
}

// A gathered write takes at most this many buffers (the rest wait for the
// next call); the iovecs live on the writing fiber's stack.
constexpr std::size_t kMaxBuffers = 16;

// Writes some of the first kMaxBuffers of `buffers` (empty ones skipped, at
// most kMaxChunk bytes in all) in one gathered request: `kind` is sendmsg
// (sockets) or writev (anything else, at `offset` or kCurrentPosition).
// Returns how many bytes; 0 for nothing to write.
Result<std::size_t> write_gathered(OpKind kind, int fd, std::uint64_t offset, std::span<const ConstBuffer> buffers,
                                   const WaitOptions& options);

// Writes every byte of every buffer by calls to `write` (a span of at most
// kMaxBuffers ConstBuffers -> Result<size_t>), resuming a short write where
// it stopped; a write that moves nothing is EIO.
template <class Write>
Result<void> write_all_gathered_by(std::span<const ConstBuffer> buffers, Write&& write) {
  ConstBuffer rest[kMaxBuffers];  // the unwritten part of the next few buffers
  std::size_t next = 0;           // buffers[next..] not yet copied into rest
  std::size_t held = 0;
  for (;;) {
    while (held < kMaxBuffers && next < buffers.size()) {
      if (buffers[next].size > 0) rest[held++] = buffers[next];
      ++next;
    }
    if (held == 0) return {};
    Result<std::size_t> r = write(std::span<const ConstBuffer>(rest, held));
    if (!r) return r.error();
    if (*r == 0) return errno_error(EIO);  // it would never end
    std::size_t sent = *r;
    std::size_t done = 0;  // buffers in rest written whole
    while (done < held && sent >= rest[done].size) sent -= rest[done++].size;
    if (done < held) rest[done] = {static_cast<const char*>(rest[done].data) + sent, rest[done].size - sent};
    std::copy(rest + done, rest + held, rest);
    held -= done;
  }
}

// Takes `fd` (leaving -1) and closes it; EBADF if it held none. On a fiber through the backend (which first
// cancels whatever else is pending on it) and reports the close's error; on
// any other thread with close(2).
Result<void> close_descriptor(Descriptor& fd);
// The same for destructors: never parks, never reports.
void close_descriptor_quietly(Descriptor& fd) noexcept;

// True when closing a descriptor here goes through every worker (several
// workers, running): each retires it, accept queues included (io.cc).
bool closes_everywhere() noexcept;

}  // namespace weft::io
