#include <weft/alloc/heap.h>

#include <mimalloc.h>

namespace weft::alloc {

void* allocate(std::size_t size, std::size_t align) {
  void* p = align <= alignof(std::max_align_t) ? mi_malloc(size)
                                               : mi_malloc_aligned(size, align);
  if (p == nullptr) throw std::bad_alloc();
  return p;
}

void deallocate(void* p) noexcept { mi_free(p); }

}  // namespace weft::alloc
