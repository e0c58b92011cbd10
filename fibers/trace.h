// weft/fibers/trace.h — the timeline trace: WEFT_TRACE=out.json records a
// Chrome trace-event file that Perfetto (ui.perfetto.dev) and
// chrome://tracing open.
//
// What the file shows:
//   - one track per worker ("worker N"): a slice per fiber run, named after
//     the fiber, and "scheduler" slices for the worker's own context, with
//     "idle" slices nested where it slept in the backend;
//   - flow arrows: from the slice that woke a fiber (or spawned it) to the
//     fiber's next run, and from a victim worker to the thief at a steal;
//   - I/O operations as async spans (category "io"), from the fiber's
//     submission to the completion that readies it (or, where no completion
//     is reaped on a worker, such as a pool job or a rescue, to the fiber's
//     resumption);
//   - hog episodes as instant marks on the hogging worker's track;
//   - tracks for the blocking pool's threads ("blocking job" slices; the
//     monitor's hog marks go on the workers' tracks).
//
// Recording. Each thread appends fixed 32-byte records to its own buffer
// (no lock, no atomic shared between cores); the buffers are turned into
// JSON only when the file is written: when run() ends, or on demand with
// weft::trace::write(). A buffer that reaches its cap (WEFT_TRACE_MB per
// thread, default 128) stops recording and counts what it dropped; the file
// says so in "otherData".
//
// Cost when off: every event site is `if (trace::on()) [[unlikely]]
// trace::event(...)`, one relaxed load of a global flag and a branch that is
// never taken, and the recording function is cold and out of line.
//
// Thread rules. One trace at a time per process: a run() with a trace path
// while another traced run() is going prints a line and does not trace.
// begin() and end() belong to the runtime (a run()'s start and end); write()
// may be called from any thread while the trace is on. A thread records into
// its own buffer only; it marks itself busy while it does, and end() waits
// for every busy thread before it frees the buffers (a blocking-pool thread
// may outlive a run()).
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

#include <weft/fibers/result.h>

namespace weft {

namespace fibers {
struct Fiber;
}

namespace trace {

// True while a trace is being recorded (a run() with WEFT_TRACE or
// RuntimeOptions::trace_path set).
bool active() noexcept;

// Writes what has been recorded so far to the trace's file (replacing it),
// without stopping the trace; run()'s end writes it again, whole. Any
// thread. An error when no trace is on, or the file cannot be written.
Result<void> write();

}  // namespace trace

namespace fibers::trace {

namespace detail {
inline std::atomic<bool> g_on{false};
}

// The one branch at every event site.
[[gnu::always_inline]] inline bool on() noexcept {
#ifdef WEFT_NO_TRACE
  return false;  // -DWEFT_TRACE=OFF: the sites compile to nothing
#else
  return detail::g_on.load(std::memory_order_relaxed);
#endif
}

// (begin() and end() belong to the runtime: trace_buffer.h, not installed.)

// Names the calling thread's track when it is not a worker's ("blocking
// pool", "monitor"). The string must live as long as the process.
void label_this_thread(const char* label) noexcept;

// Event sites (cold; call only when on()). `scheduler` names the runtime
// the event belongs to, where the calling thread may not be one of its
// workers (the blocking pool, the monitor, any thread that wakes a fiber).
[[gnu::cold, gnu::noinline]] void spawn(Fiber* f);
[[gnu::cold, gnu::noinline]] void run(Fiber* next, bool home);  // a switch to `next`
[[gnu::cold, gnu::noinline]] void wake(Fiber* f, const void* scheduler);
[[gnu::cold, gnu::noinline]] void steal(std::size_t victim, std::uint32_t count);
[[gnu::cold, gnu::noinline]] void idle(bool begin);
[[gnu::cold, gnu::noinline]] void job(bool begin, const void* scheduler);
[[gnu::cold, gnu::noinline]] void hog(const void* scheduler, std::size_t worker,
                                      std::uint64_t fiber_id, const char* name, std::int64_t ms);
// An I/O operation: begin sets *id, end clears it (a second end is a
// no-op). `what` is a string literal naming the operation.
[[gnu::cold, gnu::noinline]] void io_begin(std::uint64_t* id, const char* what, int fd);
[[gnu::cold, gnu::noinline]] void io_end(std::uint64_t* id, const char* what, std::int64_t result,
                                         const void* scheduler);

}  // namespace fibers::trace
}  // namespace weft
