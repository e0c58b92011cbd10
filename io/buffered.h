// weft/io/buffered.h — reading lines and frames, and batching writes, over
// any stream.
//
//   weft::BufferedReader in(conn);                 // a TcpStream, UnixStream, os::Stream, ...
//   while (auto line = in.read_line()) use(*line); // a view into the buffer, no copy
//   // ends with errc::end_of_stream (or the read's error)
//
//   weft::BufferedWriter out(conn);
//   out.write("HTTP/1.1 200 OK\r\n"); out.write(body); out.flush();
//
// Each holds one fixed buffer, allocated when it is made (16 KiB unless
// told): no call allocates. The source is anything with
// `Result<size_t> read(MutableBuffer, const WaitOptions&)` (0: the end of
// the stream), the sink anything with
// `Result<void> write_all(ConstBuffer, const WaitOptions&)` and, if it can
// gather, `write_all_vectored(std::span<const ConstBuffer>, ...)`.
//
// BufferedReader: read_until() and read_line() return a view of bytes in
// the buffer, valid until the next call on the reader. A line longer than
// the buffer is std::errc::value_too_large and loses nothing: the bytes stay
// buffered for read(). At the end of the stream a last piece without its
// delimiter is returned as it is; after that, errc::end_of_stream. peek(n)
// shows the next n bytes without taking them (n up to the capacity), view()
// what is buffered, and consume(n) takes them.
// read() serves what is buffered first; a read at least as large as the
// buffer, with nothing buffered, goes straight to the source.
//
// BufferedWriter: write() copies into the buffer while it fits. When it does
// not, a sink with write_all_vectored (a StreamSocket, an os::Stream) takes
// the buffer and the new bytes in one gathered write (sendmsg, writev), with
// no copy; any other sink
// gets the buffer topped up and handed on, and a write at least as large as
// the buffer goes to it directly. write() of several pieces
// (std::span<const ConstBuffer>: a header, a body) gathers them the same
// way. flush() hands on the rest.
// Destroying a writer drops what was not flushed (there is nobody to tell
// of a failed write): flush first. After an error the sink may have taken
// part of the bytes (write_all does not say how many): treat the stream as
// broken.
//
// Thread rules: one fiber at a time, as for the stream under it.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <concepts>
#include <memory>
#include <span>
#include <string_view>
#include <system_error>

#include <weft/fibers/cancel.h>
#include <weft/fibers/result.h>
#include <weft/io/buffer.h>

namespace weft {

template <class Source>
class BufferedReader {
 public:
  static constexpr std::size_t kDefaultCapacity = 16 << 10;

  explicit BufferedReader(Source& source, std::size_t capacity = kDefaultCapacity)
      : source_(&source), capacity_(std::max<std::size_t>(capacity, 1)), buffer_(new char[capacity_]) {}

  // Bytes read from the source and not yet taken.
  std::size_t buffered() const { return end_ - begin_; }
  std::size_t capacity() const { return capacity_; }
  // Those bytes, without reading (valid until the next call that reads).
  // With peek(buffered() + 1), a parser that looks at everything received
  // so far can ask for more.
  std::string_view view() const { return {buffer_.get() + begin_, buffered()}; }

  // The next `n` bytes without taking them (fewer only at the end of the
  // stream). std::errc::invalid_argument when n is above the capacity.
  Result<std::string_view> peek(std::size_t n, const WaitOptions& options = {}) {
    if (n > capacity_) return std::make_error_code(std::errc::invalid_argument);
    while (buffered() < n) {
      Result<bool> more = fill(options);
      if (!more) return more.error();
      if (!*more) break;
    }
    return std::string_view(buffer_.get() + begin_, std::min(n, buffered()));
  }
  // Takes `n` bytes that peek() showed.
  void consume(std::size_t n) { begin_ += std::min(n, buffered()); }

  // Up to buffer.size bytes: what is buffered, or else one read. 0: the end
  // of the stream.
  Result<std::size_t> read(MutableBuffer buffer, const WaitOptions& options = {}) {
    if (buffer.size == 0) return std::size_t{0};
    if (buffered() == 0) {
      if (buffer.size >= capacity_) return source_->read(buffer, options);
      Result<bool> more = fill(options);
      if (!more) return more.error();
      if (!*more) return std::size_t{0};
    }
    const std::size_t n = std::min(buffer.size, buffered());
    std::memcpy(buffer.data, buffer_.get() + begin_, n);
    begin_ += n;
    return n;
  }

  // Exactly buffer.size bytes, or errc::end_of_stream if the stream ends
  // first (what arrived is in the buffer's front).
  Result<void> read_exact(MutableBuffer buffer, const WaitOptions& options = {}) {
    auto* p = static_cast<char*>(buffer.data);
    std::size_t left = buffer.size;
    while (left > 0) {
      Result<std::size_t> n = read(MutableBuffer(p, left), options);
      if (!n) return n.error();
      if (*n == 0) return errc::end_of_stream;
      p += *n;
      left -= *n;
    }
    return {};
  }

  // The bytes up to and including the next `delimiter`, as a view into the
  // buffer (see the top for the end of the stream and overlong pieces).
  Result<std::string_view> read_until(char delimiter, const WaitOptions& options = {}) {
    std::size_t scanned = 0;  // bytes already searched
    for (;;) {
      const char* start = buffer_.get() + begin_;
      if (const void* hit = std::memchr(start + scanned, delimiter, buffered() - scanned)) {
        const std::size_t n = static_cast<std::size_t>(static_cast<const char*>(hit) - start) + 1;
        begin_ += n;
        return std::string_view(start, n);
      }
      scanned = buffered();
      if (scanned == capacity_) return std::make_error_code(std::errc::value_too_large);
      Result<bool> more = fill(options);
      if (!more) return more.error();
      if (!*more) {
        if (buffered() == 0) return errc::end_of_stream;
        const std::string_view last(buffer_.get() + begin_, buffered());
        begin_ = end_;
        return last;
      }
    }
  }

  // The next line without its "\n" or "\r\n".
  Result<std::string_view> read_line(const WaitOptions& options = {}) {
    Result<std::string_view> r = read_until('\n', options);
    if (!r) return r;
    std::string_view line = *r;
    if (!line.empty() && line.back() == '\n') line.remove_suffix(1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    return line;
  }

 private:
  // One read into the free space, after moving what is buffered to the
  // front. False: the end of the stream.
  Result<bool> fill(const WaitOptions& options) {
    if (begin_ > 0) {
      std::memmove(buffer_.get(), buffer_.get() + begin_, buffered());
      end_ -= begin_;
      begin_ = 0;
    }
    Result<std::size_t> n = source_->read(MutableBuffer(buffer_.get() + end_, capacity_ - end_), options);
    if (!n) return n.error();
    end_ += *n;
    return *n != 0;
  }

  Source* source_;
  std::size_t capacity_;
  std::unique_ptr<char[]> buffer_;
  std::size_t begin_ = 0;  // [begin_, end_) is buffered
  std::size_t end_ = 0;
};

// A sink that can gather several buffers into one write (StreamSocket's
// write_all_vectored).
template <class Sink>
concept VectoredSink = requires(Sink& s, std::span<const ConstBuffer> b, const WaitOptions& o) {
  { s.write_all_vectored(b, o) } -> std::same_as<Result<void>>;
};

template <class Sink>
class BufferedWriter {
 public:
  static constexpr std::size_t kDefaultCapacity = 16 << 10;
  // Whether a write that overflows the buffer goes out as one gathered
  // write of the buffer and the new bytes (no copy, one call).
  static constexpr bool kVectored = VectoredSink<Sink>;

  explicit BufferedWriter(Sink& sink, std::size_t capacity = kDefaultCapacity)
      : sink_(&sink), capacity_(std::max<std::size_t>(capacity, 1)), buffer_(new char[capacity_]) {}

  std::size_t buffered() const { return size_; }
  std::size_t capacity() const { return capacity_; }

  Result<void> write(ConstBuffer bytes, const WaitOptions& options = {}) {
    if (bytes.size <= capacity_ - size_) {
      append(bytes);
      return {};
    }
    if constexpr (kVectored) {
      return write(std::span<const ConstBuffer>(&bytes, 1), options);
    } else {
      const auto* p = static_cast<const char*>(bytes.data);
      std::size_t left = bytes.size;
      if (size_ > 0) {
        const std::size_t room = capacity_ - size_;  // top the buffer up, then hand it on
        append(ConstBuffer(p, room));
        p += room;
        left -= room;
        if (Result<void> f = flush(options); !f) return f;
      }
      if (left >= capacity_) return sink_->write_all(ConstBuffer(p, left), options);
      append(ConstBuffer(p, left));
      return {};
    }
  }

  // Several pieces in order, as one write() of them all would take them:
  // copied while they fit; otherwise, with a vectored sink, the buffer and
  // the pieces go out in one gathered write (kBatch buffers at a time).
  Result<void> write(std::span<const ConstBuffer> pieces, const WaitOptions& options = {}) {
    std::size_t total = 0;
    for (const ConstBuffer& b : pieces) total += b.size;
    if (total <= capacity_ - size_) {
      for (const ConstBuffer& b : pieces) append(b);
      return {};
    }
    if constexpr (kVectored) {
      ConstBuffer batch[kBatch];
      std::size_t n = 0;
      if (size_ > 0) batch[n++] = ConstBuffer(buffer_.get(), size_);
      for (const ConstBuffer& b : pieces) {
        if (n == kBatch) {
          if (Result<void> w = send(batch, n, options); !w) return w;
          n = 0;
        }
        batch[n++] = b;
      }
      return send(batch, n, options);
    } else {
      for (const ConstBuffer& b : pieces)
        if (Result<void> w = write(b, options); !w) return w;
      return {};
    }
  }

  Result<void> flush(const WaitOptions& options = {}) {
    if (size_ == 0) return {};
    if (Result<void> w = sink_->write_all(ConstBuffer(buffer_.get(), size_), options); !w) return w;
    size_ = 0;
    return {};
  }

 private:
  static constexpr std::size_t kBatch = 16;

  // Out of line: inlined into the overflow paths, g++ 12 warns of an
  // overflow that their size checks rule out (-Wstringop-overflow).
  [[gnu::noinline]] void append(ConstBuffer bytes) {
    if (bytes.size == 0) return;
    std::memcpy(buffer_.get() + size_, bytes.data, bytes.size);
    size_ += bytes.size;
  }

  // One gathered write; the buffer is empty once the batch that held it
  // is out.
  Result<void> send(const ConstBuffer* batch, std::size_t n, const WaitOptions& options)
    requires kVectored
  {
    if (Result<void> w = sink_->write_all_vectored(std::span<const ConstBuffer>(batch, n), options); !w)
      return w;
    size_ = 0;
    return {};
  }

  Sink* sink_;
  std::size_t capacity_;
  std::unique_ptr<char[]> buffer_;
  std::size_t size_ = 0;
};

}  // namespace weft
