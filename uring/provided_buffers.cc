#include <weft/uring/provided_buffers.h>

#include <sys/mman.h>

#include <cstring>

namespace weft::uring {

std::unique_ptr<ProvidedBuffers> ProvidedBuffers::create(io_uring* ring, unsigned count,
                                                         unsigned size, unsigned short group) {
  if (count == 0 || (count & (count - 1)) != 0 || count > 32768 || size == 0) return nullptr;
  std::unique_ptr<ProvidedBuffers> b(new ProvidedBuffers);
  b->count_ = count;
  b->size_ = size;
  b->group_ = group;
  // The ring must be page-aligned: the kernel maps it.
  b->ring_bytes_ = count * sizeof(io_uring_buf);
  void* r = mmap(nullptr, b->ring_bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                 -1, 0);
  if (r == MAP_FAILED) return nullptr;
  b->ring_ = static_cast<io_uring_buf_ring*>(r);
  b->data_bytes_ = static_cast<std::size_t>(count) * size;
  void* d = mmap(nullptr, b->data_bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                 -1, 0);
  if (d == MAP_FAILED) return nullptr;
  b->data_ = static_cast<char*>(d);
  io_uring_buf_ring_init(b->ring_);
  io_uring_buf_reg reg{};
  reg.ring_addr = reinterpret_cast<std::uint64_t>(b->ring_);
  reg.ring_entries = count;
  reg.bgid = group;
  if (io_uring_register_buf_ring(ring, &reg, 0) != 0) return nullptr;
  const int mask = io_uring_buf_ring_mask(count);
  for (unsigned id = 0; id < count; ++id) {
    io_uring_buf_ring_add(b->ring_, b->data_ + static_cast<std::size_t>(id) * size, size,
                          static_cast<unsigned short>(id), mask, static_cast<int>(id));
  }
  io_uring_buf_ring_advance(b->ring_, static_cast<int>(count));
  return b;
}

ProvidedBuffers::~ProvidedBuffers() {
  if (data_ != nullptr) munmap(data_, data_bytes_);
  if (ring_ != nullptr) munmap(ring_, ring_bytes_);
}

void ProvidedBuffers::take(unsigned id, void* to, std::size_t n) {
  char* buf = data_ + static_cast<std::size_t>(id) * size_;
  if (n > 0) std::memcpy(to, buf, n);
  io_uring_buf_ring_add(ring_, buf, size_, static_cast<unsigned short>(id),
                        io_uring_buf_ring_mask(count_), 0);
  io_uring_buf_ring_advance(ring_, 1);
}

}  // namespace weft::uring
