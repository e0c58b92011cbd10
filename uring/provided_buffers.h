// A ring of provided buffers for socket receives (IORING_REGISTER_PBUF_RING,
// Linux 5.19).
//
// A receive submitted with IOSQE_BUFFER_SELECT names no buffer: the kernel
// takes one from this ring when data arrives and says which in the
// completion (IORING_CQE_F_BUFFER, id in the upper 16 bits of its flags).
// weft's read API fills the caller's buffer, so the ring's owner copies the
// data there and hands the buffer straight back (take()); the ring then holds
// a fixed amount of memory however many receives are parked.
//
// Invariants
//   1. The kernel owns every buffer between add and the completion naming
//      it; user space owns it from then until take() returns it, which
//      happens in the same dispatch, so a buffer is never lent out for long.
//   2. The ring memory is unmapped only after the io_uring that registered it
//      is gone (Ring destroys this after io_uring_queue_exit).
//
// Thread rules: used by the Ring that owns it, on its owner's thread, or by a
// rescuer holding the ring's reap lock (the two never run at once).
#pragma once

#include <liburing.h>

#include <cstddef>
#include <memory>

namespace weft::uring {

class ProvidedBuffers {
 public:
  // Registers `count` (a power of two) buffers of `size` bytes as group
  // `group` of `ring`. Null when the kernel or memory refuses.
  static std::unique_ptr<ProvidedBuffers> create(io_uring* ring, unsigned count, unsigned size,
                                                 unsigned short group);
  ~ProvidedBuffers();
  ProvidedBuffers(const ProvidedBuffers&) = delete;
  ProvidedBuffers& operator=(const ProvidedBuffers&) = delete;

  unsigned size() const { return size_; }
  unsigned short group() const { return group_; }

  // Copies the first `n` bytes of buffer `id` to `to` (n <= size()) and
  // gives the buffer back to the kernel.
  void take(unsigned id, void* to, std::size_t n);

 private:
  ProvidedBuffers() = default;

  io_uring_buf_ring* ring_ = nullptr;  // shared with the kernel
  std::size_t ring_bytes_ = 0;
  char* data_ = nullptr;  // count_ buffers of size_ bytes
  std::size_t data_bytes_ = 0;
  unsigned count_ = 0;
  unsigned size_ = 0;
  unsigned short group_ = 0;
};

}  // namespace weft::uring
