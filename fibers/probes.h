// weft/fibers/probes.h — USDT probes (SystemTap's <sys/sdt.h>, provider
// "weft"), for perf probe, bpftrace and systemtap. Each probe has a
// semaphore: the code at a probe site is one load and a branch not taken
// until a tool attaches (perf, bpftrace and systemtap raise the semaphore),
// and only then are the arguments computed. The probes are notes in the
// binary (readelf -n). Without <sys/sdt.h> (Debian: systemtap-sdt-dev) they
// compile to nothing.
//
//   weft:spawn    (fiber id, name)         a fiber was created
//   weft:switch   (from id, to id)         a context switch (id 0: the worker's home)
//   weft:park     (fiber id, name)         a fiber parks to wait
//   weft:wake     (fiber id)               a parked fiber was made runnable
//   weft:steal    (thief, victim, count)   a worker took fibers from another
//   weft:submit   (count)                  SQEs handed to the kernel in one round
//   weft:complete (count)                  completions (or epoll events) reaped in one round
//   weft:hog      (fiber id, name, ms, worker)  the monitor reported a hog
//
// docs/PROFILING.md shows perf probe and bpftrace one-liners.
//
// On the hottest paths (a switch, a wake) the probe fires from a cold
// out-of-line function, so the site stays one load and one branch and the
// function around it stays small enough to inline:
//   if (WEFT_PROBE_ENABLED(wake)) [[unlikely]] probes::wake(fiber->id);
#pragma once

#include <cstdint>

#if defined(__has_include)
#if __has_include(<sys/sdt.h>) && !defined(WEFT_NO_USDT)
#ifdef _SYS_SDT_H
#error "include weft's headers before <sys/sdt.h>: weft's probes need _SDT_HAS_SEMAPHORES"
#endif
#define _SDT_HAS_SEMAPHORES 1
#include <sys/sdt.h>
#define WEFT_USDT 1
#endif
#endif

namespace weft::fibers::probes {
[[gnu::cold, gnu::noinline]] void wake(std::uint64_t fiber_id);
[[gnu::cold, gnu::noinline]] void context_switch(std::uint64_t from_id, std::uint64_t to_id);
[[gnu::cold, gnu::noinline]] void park(std::uint64_t fiber_id, const char* name);
}  // namespace weft::fibers::probes

#ifdef WEFT_USDT
// The semaphores (fibers/probes.cc): raised by a tracer while attached.
extern "C" {
extern volatile unsigned short weft_spawn_semaphore, weft_switch_semaphore, weft_park_semaphore,
    weft_wake_semaphore, weft_steal_semaphore, weft_submit_semaphore, weft_complete_semaphore,
    weft_hog_semaphore;
}
#define WEFT_PROBE_ON(name) __builtin_expect(weft_##name##_semaphore != 0, 0)
#define WEFT_PROBE1(name, a) \
  do { if (WEFT_PROBE_ON(name)) DTRACE_PROBE1(weft, name, a); } while (0)
#define WEFT_PROBE2(name, a, b) \
  do { if (WEFT_PROBE_ON(name)) DTRACE_PROBE2(weft, name, a, b); } while (0)
#define WEFT_PROBE3(name, a, b, c) \
  do { if (WEFT_PROBE_ON(name)) DTRACE_PROBE3(weft, name, a, b, c); } while (0)
#define WEFT_PROBE4(name, a, b, c, d) \
  do { if (WEFT_PROBE_ON(name)) DTRACE_PROBE4(weft, name, a, b, c, d); } while (0)
#define WEFT_PROBE_ENABLED(name) WEFT_PROBE_ON(name)
#else
#define WEFT_PROBE_ENABLED(name) false
#define WEFT_PROBE1(name, a) ((void)0)
#define WEFT_PROBE2(name, a, b) ((void)0)
#define WEFT_PROBE3(name, a, b, c) ((void)0)
#define WEFT_PROBE4(name, a, b, c, d) ((void)0)
#endif
