// The fiber record: what the runtime keeps for each fiber.
//
// One mimalloc allocation holds the record followed by the task (the user's
// function and the slot for its outcome, see spawn.h). A fiber that has not
// run yet has no stack; it gets one from its worker's pool when it is first
// switched to, and gives it back the moment it finishes.
//
// States and who owns the fiber's stack in each:
//   runnable  in a run queue; nobody runs on its stack
//   running   its worker's thread runs on its stack
//   parked    waiting; whoever holds it in a wait list will ready() it
//   finished  stack returned; the record waits for its JoinHandle
//
// join_state (atomic) tells the finishing side and the handle side who frees
// the record: kJoinNone while both exist, kJoinDetached once the handle let
// go, kJoinFinished once the fiber's stack is released, or the address of a
// fiber parked in join(), or the address of a FinishHook with kJoinHookTag
// set (a detach that wants to know when the fiber ended). It is set to kJoinFinished only after the stack is
// back in the pool, so whoever frees the record never races the scheduler.
#pragma once

#include <atomic>
#include <cstdint>

#include <weft/alloc/stack.h>
#include <weft/fibers/checks.h>
#include <weft/fibers/sanitizer.h>
#include <weft/fibers/spawn.h>

namespace weft::fibers {

enum class FiberState : std::uint8_t { runnable, running, parked, finished };

// Whether a fiber may go from `from` to `to`: runnable -> running (a
// worker switches to it); running -> runnable (it yields), parked (it
// waits) or finished (it returns); parked -> runnable (a wake-up);
// runnable or parked -> finished (abandoned when the runtime stops, or it
// never got a stack).
constexpr bool may_become(FiberState from, FiberState to) {
  using S = FiberState;
  switch (from) {
    // runnable -> runnable is a fiber readied twice, or readied while
    // queued: two owners would run it. (A fiber moved between queues, as
    // the monitor moves a busy worker's next slot, keeps its state.)
    case S::runnable: return to == S::running || to == S::finished;
    case S::running: return to == S::runnable || to == S::parked || to == S::finished;
    case S::parked: return to == S::runnable || to == S::finished;
    case S::finished: return false;
  }
  return false;
}
const char* state_name(FiberState s);

inline constexpr std::uintptr_t kJoinNone = 0;
inline constexpr std::uintptr_t kJoinDetached = 1;
inline constexpr std::uintptr_t kJoinFinished = 2;
// Or'ed into a FinishHook's address (hooks are pointer-aligned, fibers too).
inline constexpr std::uintptr_t kJoinHookTag = 1;

// The C++ runtime's per-thread exception bookkeeping (Itanium ABI layout).
// A fiber that parks inside a catch block must find its own caught-exception
// stack when it resumes, so the scheduler swaps these with every switch.
struct EhGlobals {
  void* caught_exceptions = nullptr;
  unsigned int uncaught_exceptions = 0;
};

class Worker;

// Where a parked fiber waits, for the deadlock report (and for a reader of a
// core dump): what it called, as a static string ("weft::Mutex::lock"), and
// the object it waits on (the mutex), or null. Every park names one.
struct WaitSite {
  const char* what = nullptr;
  const void* object = nullptr;
};

// How to detach a parked fiber from whatever it waits on (a wait list, a
// cancel token, the timer heap, an I/O operation) if the runtime abandons it.
// Set by the wait while the fiber is parked; run by Worker::abandon_all() while the
// fiber's stack, where the hook lives, is still intact.
struct AbandonHook {
  void (*run)(AbandonHook* self) = nullptr;
};

struct Fiber {
  // Touched on every switch and hand-over: first cache line.
  void* sp = nullptr;               // saved stack pointer while not running
  Fiber* next = nullptr;            // run queue or wait list link
  alloc::Stack stack;               // empty until first run, and after finishing
  const void* lowest_sp = nullptr;  // deepest stack pointer seen at a switch
  TaskBase* task = nullptr;
  std::atomic<std::uintptr_t> join_state{kJoinNone};
  std::uint32_t stack_size = 0;  // requested usable bytes (rounded)
  FiberState state = FiberState::runnable;  // changed only through become()
  bool abandoned = false;  // the runtime stopped before it finished
  // Touched at spawn and finish, at each park (abandon_hook, waits_in), or
  // only when something goes wrong.
  Fiber* all_prev = nullptr;  // the creating worker's list of live fibers
  Fiber* all_next = nullptr;
  Worker* listed_on = nullptr;  // whose list that is
  std::uint64_t id = 0;
  AbandonHook* abandon_hook = nullptr;  // set while parked in a wait that has one
  WaitSite waits_in;                    // set at each park (stale while not parked)
  const WaitScope* scope = nullptr;     // the innermost CancelScope (cancel.h), or none
  std::uint64_t trace_flow = 0;  // trace.h: the flow its next run ends (set by its waker)
  EhGlobals eh;
  char name[32];  // NUL-terminated; set by Worker::create
  [[no_unique_address]] SanitizerState san;

  // Every state change goes through here; checked builds (checks.h) abort,
  // naming the fiber and both states, on one may_become() forbids.
  void become(FiberState to) noexcept {
    if constexpr (WEFT_CHECKED) {
      if (!may_become(state, to)) [[unlikely]]
        impossible_change(to);
    }
    state = to;
  }
  [[noreturn, gnu::cold]] void impossible_change(FiberState to) const noexcept;
};

}  // namespace weft::fibers
