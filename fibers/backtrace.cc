#include <weft/fibers/backtrace.h>

#include <pthread.h>

#include <cstdint>

#include <weft/fibers/worker.h>

extern "C" {
// The instruction after weft_fiber_start's call of the fiber's entry
// (context_x86_64.S): the return address of a fiber's outermost frame.
extern const char weft_fiber_start_return[];
}

namespace weft {

namespace {

struct Bounds {
  std::uintptr_t low = 0;
  std::uintptr_t high = 0;
  bool holds(std::uintptr_t frame) const { return frame >= low && frame + 2 * sizeof(void*) <= high; }
};

// The calling thread's own stack, from pthread (cached: it never moves).
Bounds thread_stack() {
  static thread_local Bounds cached;
  if (cached.high == 0) {
    pthread_attr_t attr;
    if (pthread_getattr_np(pthread_self(), &attr) == 0) {
      void* addr = nullptr;
      std::size_t size = 0;
      if (pthread_attr_getstack(&attr, &addr, &size) == 0) {
        cached.low = reinterpret_cast<std::uintptr_t>(addr);
        cached.high = cached.low + size;
      }
      pthread_attr_destroy(&attr);
    }
  }
  return cached;
}

}  // namespace

bool is_fiber_entry(const void* return_address) {
  return return_address == static_cast<const void*>(weft_fiber_start_return);
}

[[gnu::noinline]] std::vector<void*> backtrace(std::size_t max_frames) {
  std::vector<void*> out;
  auto** frame = static_cast<void**>(__builtin_frame_address(0));
  const auto start = reinterpret_cast<std::uintptr_t>(frame);
  // The walk stays inside the stack it started on: the fiber's own mapping
  // if it started there, else the thread's stack (a worker between rounds,
  // a plain thread); on neither (a signal's alternate stack), nothing.
  Bounds bounds;
  if (fibers::Worker* w = fibers::Worker::current(); w != nullptr && w->on_fiber()) {
    const alloc::Stack& s = w->current_fiber()->stack;
    bounds = {reinterpret_cast<std::uintptr_t>(s.base), reinterpret_cast<std::uintptr_t>(s.top())};
  }
  if (!bounds.holds(start)) bounds = thread_stack();
  if (!bounds.holds(start)) return out;
  while (out.size() < max_frames) {
    void* ret = frame[1];
    if (ret == nullptr) break;
    out.push_back(ret);
    if (is_fiber_entry(ret)) break;
    auto** next = static_cast<void**>(frame[0]);
    const auto n = reinterpret_cast<std::uintptr_t>(next);
    if (next <= frame || n % sizeof(void*) != 0 || !bounds.holds(n)) break;
    frame = next;
  }
  return out;
}

}  // namespace weft
