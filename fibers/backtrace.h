// weft/fibers/backtrace.h — the calling fiber's frames, read from frame
// pointers.
//
//   for (void* pc : weft::backtrace()) std::printf("%p\n", pc);
//
// weft is built with frame pointers everywhere, and every fiber stack ends
// in a terminating frame (weft_fiber_start, context_x86_64.S): rbp is zero
// there. So the walk needs no unwind tables, costs a few nanoseconds a frame,
// and stops exactly at the fiber's entry: the last address it returns is
// the return into weft_fiber_start (is_fiber_entry() says so). On a thread
// that is not running a fiber it walks that thread's stack until a zero
// frame pointer (the C runtime's first frame) or an implausible one.
//
// Frames of code built without frame pointers are skipped or end the walk
// early: the walk never reads outside the current stack.
//
// Thread rules: any thread; reads only the caller's own stack.
#pragma once

#include <cstddef>
#include <vector>

namespace weft {

// Return addresses, innermost first: [0] is in the caller of backtrace().
std::vector<void*> backtrace(std::size_t max_frames = 256);

// Whether `return_address` is the return into weft_fiber_start: the last
// frame of every fiber stack.
bool is_fiber_entry(const void* return_address);

}  // namespace weft
