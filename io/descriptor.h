// The descriptor slot inside TcpStream, TcpListener, UdpSocket, File and
// os::Stream.
//
// Thread rules: one fiber may close a socket while fibers on other workers
// are reading or writing it (close cancels them). So the slot is atomic:
// loads are relaxed (a plain move on x86-64) and closing takes the value
// with one exchange, so of two racing closes exactly one gets the
// descriptor and the other sees EBADF. Moving or assigning the owning object
// while another fiber uses it stays a caller error, as for any object.
#pragma once

#include <atomic>

namespace weft::io {

class Descriptor {
 public:
  Descriptor() = default;
  explicit Descriptor(int fd) : fd_(fd) {}
  Descriptor(Descriptor&& other) noexcept : fd_(other.take()) {}
  // The slot owns its descriptor: assigning over it or destroying it closes
  // the one it held, without parking and without reporting (through the
  // backend on a fiber, with close(2) elsewhere: io/io.h).
  Descriptor& operator=(Descriptor&& other) noexcept {
    if (this != &other) {
      if (get() >= 0) close_quietly();
      reset(other.take());
    }
    return *this;
  }
  ~Descriptor() {
    if (get() >= 0) close_quietly();  // (moved-from slots, the common case, call nothing)
  }

  // The descriptor, or -1 when none is held.
  int get() const noexcept { return fd_.load(std::memory_order_relaxed); }
  operator int() const noexcept { return get(); }  // NOLINT: reads like the int it replaces
  // Gives up the descriptor: returns it and leaves -1.
  int take() noexcept { return fd_.exchange(-1, std::memory_order_relaxed); }
  // Holds `fd` from now on; the caller has given up any previous one.
  void reset(int fd) noexcept { fd_.store(fd, std::memory_order_relaxed); }
  // Closes what it holds (see the destructor); -1 after.
  void close_quietly() noexcept;

 private:
  std::atomic<int> fd_{-1};
};

}  // namespace weft::io
