// Announcing fiber switches to AddressSanitizer, ThreadSanitizer and Valgrind.
//
// ASan keeps per-stack bookkeeping (fake frames for use-after-return, the
// bounds it checks accesses against); TSan keeps a per-fiber happens-before
// state. Both must be told before and after every switch, or they report
// nonsense. Valgrind only needs each stack registered once, which the stack
// pool does (alloc/stack.cc).
//
// Thread rules: called by the scheduler around each switch on the worker's
// thread. In builds without sanitizers every function here is empty.
#pragma once

#include <cstddef>

#if defined(__SANITIZE_ADDRESS__)
#define WEFT_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define WEFT_ASAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define WEFT_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define WEFT_TSAN 1
#endif
#endif

#ifdef WEFT_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif
#ifdef WEFT_TSAN
#include <sanitizer/tsan_interface.h>
#endif

namespace weft::fibers {

// What the sanitizers need to remember per fiber (nothing, without them).
struct SanitizerState {
#if defined(WEFT_ASAN) || defined(WEFT_TSAN)
  const void* stack_bottom = nullptr;  // lowest address of the stack
  std::size_t stack_size = 0;
  void* asan_fake_stack = nullptr;
  void* tsan_fiber = nullptr;
#endif
};

namespace sanitizer {

// The calling thread's own context (the worker's home).
inline void adopt_thread(SanitizerState& s) {
#ifdef WEFT_TSAN
  s.tsan_fiber = __tsan_get_current_fiber();
#endif
  (void)s;
}

// A fiber's stack is known and it is about to run for the first time. The
// stack may have served fibers before whose last frames never returned (a
// fiber ends inside its final switch): clear their redzones so ASan does not
// take them for the new fiber's.
inline void create(SanitizerState& s, const void* bottom, std::size_t size) {
#if defined(WEFT_ASAN) || defined(WEFT_TSAN)
  s.stack_bottom = bottom;
  s.stack_size = size;
#endif
#ifdef WEFT_ASAN
  __asan_unpoison_memory_region(bottom, size);
#endif
#ifdef WEFT_TSAN
  s.tsan_fiber = __tsan_create_fiber(0);
#endif
  (void)s;
  (void)bottom;
  (void)size;
}

// The fiber's stack went back to the pool.
inline void destroy(SanitizerState& s) {
#ifdef WEFT_TSAN
  if (s.tsan_fiber != nullptr) __tsan_destroy_fiber(s.tsan_fiber);
  s.tsan_fiber = nullptr;
#endif
  (void)s;
}

// Right before switching from `from` to `to`. `from_ends` when `from` will
// never run again (its fake frames can be dropped).
inline void before_switch(SanitizerState& from, SanitizerState& to, bool from_ends) {
#ifdef WEFT_ASAN
  __sanitizer_start_switch_fiber(from_ends ? nullptr : &from.asan_fake_stack, to.stack_bottom,
                                 to.stack_size);
#endif
#ifdef WEFT_TSAN
  __tsan_switch_to_fiber(to.tsan_fiber, 0);
#endif
  (void)from;
  (void)to;
  (void)from_ends;
}

// Right after a switch landed in `self`. `previous` is the context that was
// left; ASan tells us its bounds, which fills them in for the thread's own
// stack the first time we leave it.
inline void after_switch(SanitizerState& self, SanitizerState* previous) {
#ifdef WEFT_ASAN
  const void* bottom = nullptr;
  std::size_t size = 0;
  __sanitizer_finish_switch_fiber(self.asan_fake_stack, &bottom, &size);
  if (previous != nullptr && previous->stack_bottom == nullptr) {
    previous->stack_bottom = bottom;
    previous->stack_size = size;
  }
#endif
  (void)self;
  (void)previous;
}

}  // namespace sanitizer
}  // namespace weft::fibers
