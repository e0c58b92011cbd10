// weft/fibers/stats.h — what the runtime has done, counted per worker.
//
// Counters are plain increments on the worker that does the work: reading
// them costs nothing until you ask. WEFT_STATS=1 prints them when a runtime
// finishes.
//
// Thread rules: stats() reads the calling thread's worker; call it from a
// fiber (or the runtime's home context).
#pragma once

#include <cstdint>
#include <string>

namespace weft {

struct Stats {
  // scheduler
  std::uint64_t spawns = 0;        // fibers created
  std::uint64_t switches = 0;      // context switches (fiber to fiber or home)
  std::uint64_t yields = 0;        // weft::yield() calls
  std::uint64_t parks = 0;         // a fiber parked to wait
  std::uint64_t wakeups = 0;       // a parked fiber made runnable
  std::uint64_t rounds = 0;        // scheduling rounds (one poll of the backend each)
  std::uint64_t parks_worker = 0;  // the worker found nothing to do and slept
  std::uint64_t idle_spins = 0;    // ... and first spun looking for work (several workers)
  std::uint64_t idle_spin_hits = 0;  // of which found some before sleeping
  std::uint64_t steals = 0;        // successful steals by this worker
  std::uint64_t stolen_in = 0;     // fibers this worker took from others
  std::uint64_t stolen_out = 0;    // fibers others took from this worker
  std::uint64_t timers_fired = 0;
  std::uint64_t overflows = 0;     // a fiber readied here found the local queue full (worker.cc)
  std::uint64_t kept_local = 0;    // of which one due to run soon, kept here by moving half out
  std::uint64_t yields_to_global = 0;  // yields queued at the global queue's back (fibers wait there)
  std::uint64_t fibers_live = 0;  // fibers spawned and not yet finished
  // stacks
  std::uint64_t stack_slots = 0;   // stacks carved from the runtime's arenas (ever; runtime-wide)
  std::uint64_t stack_trims = 0;   // deep stacks trimmed on return to the pool
  std::uint64_t stack_pages_committed = 0;  // stack pages fibers touched (alloc/stack.h says how counted)
  std::uint64_t stack_pages_trimmed = 0;    // of which given back to the kernel by trims
  std::uint64_t stack_checks = 0;  // pooled stacks checked for depth while idle
  // I/O backend
  std::uint64_t sqes_submitted = 0;  // submission queue entries handed to the kernel
  std::uint64_t cqes_reaped = 0;     // completion queue entries consumed
  std::uint64_t ring_enters = 0;     // io_uring_enter system calls
  std::uint64_t ring_waits = 0;      // of which waited for completions (idle)
  std::uint64_t cq_overflows = 0;    // polls that found completions the full CQ held back (none lost)
  std::uint64_t split_links = 0;     // deadlines a short submit cut off their request, mended (uring/split_link.cc)
  std::uint64_t epoll_waits = 0;     // epoll_pwait2 system calls (epoll backend)
  std::uint64_t poll_failures = 0;   // io_uring_enter / epoll_wait calls that failed (EINTR, EAGAIN, EBUSY): retried
  std::uint64_t buffer_ring_misses = 0;  // receives resubmitted: the provided buffers ran out
  // helper threads
  std::uint64_t blocking_jobs = 0;  // jobs handed to the blocking pool (weft::blocking, epoll file calls)
};

// The calling worker's counters. All zero outside a runtime.
Stats stats();

// Adds every counter of `b` to `a` (fibers_live included).
Stats& operator+=(Stats& a, const Stats& b);

// One "name value" line per counter.
std::string format_stats(const Stats& s);

}  // namespace weft
