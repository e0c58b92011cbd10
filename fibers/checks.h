// Rules the design comments state, checked where it is cheap enough: in
// debug builds (no NDEBUG) and sanitizer builds (WEFT_SANITIZE), not in
// Release or RelWithDebInfo, whose hot paths stay as they are.
//
//   OwnerThread  "owner thread only": an object records the thread that
//                owns it (bind()); check() aborts, naming the object, the
//                call and both threads, when another thread calls in.
//   Fiber::become (fiber.h) checks each fiber state change (from -> to)
//                and aborts on an impossible one.
//
// Thread rules: bind() by the owner, before other threads may check;
// check() from any thread.
#pragma once

#include <pthread.h>

#if !defined(NDEBUG) || defined(WEFT_SANITIZE_BUILD)
#define WEFT_CHECKED 1
#else
#define WEFT_CHECKED 0
#endif

namespace weft::fibers {

// Prints "weft: <what>" and the calling thread, then aborts.
[[noreturn, gnu::cold]] void rule_broken(const char* what) noexcept;

class OwnerThread {
 public:
  // From now on, the calling thread owns the object.
  void bind() noexcept {
    if constexpr (WEFT_CHECKED) {
      owner_ = pthread_self();
      bound_ = true;
    }
  }
  // `object` and `call` name what was called ("Ring", "submit").
  void check(const char* object, const char* call) const noexcept {
    if constexpr (WEFT_CHECKED) {
      if (bound_ && !pthread_equal(owner_, pthread_self())) [[unlikely]]
        broken(object, call);
    }
  }

 private:
  [[noreturn, gnu::cold]] void broken(const char* object, const char* call) const noexcept;
  pthread_t owner_{};
  bool bound_ = false;
};

}  // namespace weft::fibers
