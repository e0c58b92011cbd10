#include <weft/fibers/backtrace.h>

#include <cstdint>

#include <weft/fibers/worker.h>

extern "C" {
// The instruction after weft_fiber_start's call of the fiber's entry
// (context_x86_64.S): the return address of a fiber's outermost frame.
extern const char weft_fiber_start_return[];
}

namespace weft {

bool is_fiber_entry(const void* return_address) {
  return return_address == static_cast<const void*>(weft_fiber_start_return);
}

[[gnu::noinline]] std::vector<void*> backtrace(std::size_t max_frames) {
  std::vector<void*> out;
  auto** frame = static_cast<void**>(__builtin_frame_address(0));
  // The walk stays inside the stack it started on: a fiber's own mapping,
  // else (a plain thread, or a worker between rounds) a generous window.
  const char* high = nullptr;
  if (fibers::Worker* w = fibers::Worker::current(); w != nullptr && w->on_fiber()) {
    high = w->current_fiber()->stack.top();
  }
  constexpr std::uintptr_t kThreadWindow = 64u << 20;
  const auto start = reinterpret_cast<std::uintptr_t>(frame);
  while (frame != nullptr && out.size() < max_frames) {
    void* ret = frame[1];
    if (ret == nullptr) break;
    out.push_back(ret);
    if (is_fiber_entry(ret)) break;
    auto** next = static_cast<void**>(frame[0]);
    const auto n = reinterpret_cast<std::uintptr_t>(next);
    if (next <= frame || n % sizeof(void*) != 0) break;
    if (high != nullptr ? n + 2 * sizeof(void*) > reinterpret_cast<std::uintptr_t>(high)
                        : n - start > kThreadWindow)
      break;
    frame = next;
  }
  return out;
}

}  // namespace weft
