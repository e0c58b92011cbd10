// The raw context switch (context_x86_64.S) and the frame a new fiber starts
// from. Knows nothing of fibers or workers; fibers/worker.cc builds on it.
//
// Thread rules: pure functions of their arguments; the caller guarantees the
// target context is not running anywhere else.
#pragma once

#include <cstdint>

extern "C" {
// Saves the current context into *save_sp, resumes load_sp and hands it
// `pass`. Returns, when this context is resumed in turn, the `pass` of the
// switch that resumed it.
void* weft_context_switch(void** save_sp, void* load_sp, void* pass) noexcept;
// The same, leaving with `ret` instead of an indirect jump: for a caller that
// makes every switch from one call site (the scheduler), where the
// return-stack buffer then predicts the resumed side's returns. See
// context_x86_64.S.
void* weft_context_switch_ret(void** save_sp, void* load_sp, void* pass) noexcept;
// The resume address of a context built by make_initial_frame. Not callable.
void weft_fiber_start() noexcept;
}

namespace weft::fibers {

// Entry of a new context: `arg` as given to make_initial_frame, `from` the
// pass value of the switch that started it. Must never return.
using ContextEntry = void (*)(void* arg, void* from);

// The MXCSR and x87 control word of the calling thread, packed as the switch
// stores them; new contexts start with these.
inline std::uint64_t capture_fp_control() {
  std::uint32_t mxcsr = 0;
  std::uint16_t fpucw = 0;
  asm volatile("stmxcsr %0" : "=m"(mxcsr));
  asm volatile("fnstcw %0" : "=m"(fpucw));
  return mxcsr | (std::uint64_t{fpucw} << 32);
}

// Builds the first frame of a context on the stack whose highest address is
// `stack_top` (16-byte aligned) and returns the stack pointer to switch to.
// The first switch to it calls entry(arg, pass) on that stack.
inline void* make_initial_frame(char* stack_top, ContextEntry entry, void* arg,
                                std::uint64_t fp_control) {
  auto* frame = reinterpret_cast<std::uint64_t*>(stack_top) - 8;
  frame[0] = fp_control;
  frame[1] = reinterpret_cast<std::uint64_t>(arg);    // r12
  frame[2] = reinterpret_cast<std::uint64_t>(entry);  // r13
  frame[3] = 0;                                       // r14
  frame[4] = 0;                                       // r15
  frame[5] = 0;                                       // rbx
  frame[6] = 0;                                       // rbp
  frame[7] = reinterpret_cast<std::uint64_t>(&weft_fiber_start);
  return frame;
}

}  // namespace weft::fibers
