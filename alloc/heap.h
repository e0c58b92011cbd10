// Runtime objects (fiber records, operation records, listener state, pool
// bookkeeping) come from mimalloc: thread-local heaps that match per-core
// workers and a fast path of a few nanoseconds.
//
// Thread rules: any thread; memory may be freed on another thread than the
// one that allocated it (mimalloc handles the cross-thread free).
#pragma once

#include <mimalloc.h>

#include <cstddef>
#include <cstdlib>
#include <new>

namespace weft::alloc {

[[noreturn, gnu::cold]] void throw_bad_alloc();

// Memory for `size` bytes aligned to `align`. Throws std::bad_alloc.
//
// Sanitizer builds use the C heap instead, which the sanitizers intercept:
// they then see every record's life (a use after free, a record reused by
// another thread), which an uninstrumented mimalloc would hide from them.
inline void* allocate(std::size_t size, std::size_t align = alignof(std::max_align_t)) {
#ifdef WEFT_SANITIZE_BUILD
  void* p = align <= alignof(std::max_align_t)
                ? std::malloc(size)
                : std::aligned_alloc(align, (size + align - 1) / align * align);
#else
  void* p = align <= alignof(std::max_align_t) ? mi_malloc(size) : mi_malloc_aligned(size, align);
#endif
  if (p == nullptr) [[unlikely]]
    throw_bad_alloc();
  return p;
}
inline void deallocate(void* p) noexcept {
#ifdef WEFT_SANITIZE_BUILD
  std::free(p);
#else
  mi_free(p);
#endif
}

// Base class that makes `new T` and `delete` use mimalloc.
struct HeapObject {
  static void* operator new(std::size_t size) { return allocate(size); }
  static void* operator new(std::size_t size, std::align_val_t align) {
    return allocate(size, static_cast<std::size_t>(align));
  }
  static void operator delete(void* p) noexcept { deallocate(p); }
  static void operator delete(void* p, std::align_val_t) noexcept { deallocate(p); }
};

// A standard-library allocator on mimalloc, for containers inside the runtime.
template <class T>
struct Allocator {
  using value_type = T;
  Allocator() noexcept = default;
  template <class U>
  Allocator(const Allocator<U>&) noexcept {}
  T* allocate(std::size_t n) {
    return static_cast<T*>(weft::alloc::allocate(n * sizeof(T), alignof(T)));
  }
  void deallocate(T* p, std::size_t) noexcept { weft::alloc::deallocate(p); }
  template <class U>
  bool operator==(const Allocator<U>&) const noexcept {
    return true;
  }
};

}  // namespace weft::alloc
