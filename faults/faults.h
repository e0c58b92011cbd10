// weft::faults — the seam through which a test makes chosen system calls of
// the runtime fail, to show that the runtime keeps serving, says what went
// wrong and loses no completion.
//
// Each Site is one call (or one decision) in the backends and the stack
// arenas. A site is armed with an errno, how many calls to let through
// first (skip) and how many to fail (count); the call site then asks
// faults::fail(site), which returns 0 (go on) or the errno to pretend the
// kernel returned. Unarmed, that question is one relaxed load of a word
// that stays in cache and a branch predicted not taken: every build carries
// the seam, so what the fault tests show is what users run.
//
// From a program: WEFT_FAULTS (read once, when a Runtime is made) holds a
// comma-separated list of site=ERRNO[*count][+skip][%every], say
//   WEFT_FAULTS=ring_enter=EINTR*100,accept=EMFILE*5+20
// (100 io_uring_enter calls fail with EINTR; after 20 accepts, 5 fail with
// EMFILE). count 0 means every call from then on; %every spreads the
// failures out, one call in `every` (ring_enter=EINTR*0%50: every 50th
// enter, for as long as the program runs: what a soak under faults uses).
// A list that does not parse stops the Runtime's construction with a
// message naming the bad part. A program that set it says, when it exits
// normally, how many calls each site failed ("weft: WEFT_FAULTS fired:
// ring_enter 120, accept 7"; runtime/runtime.cc).
//
// What each site does when it fires (and where it sits):
//   ring_enter         io_uring_enter in a worker's poll returns -errno
//                      without entering (uring/ring.cc). EINTR, EAGAIN and
//                      EBUSY are what the kernel may say; the SQEs stay in
//                      the SQ and go at the next enter.
//   ring_short_submit  the enter hands the kernel only the first SQE of
//                      those waiting and does not wait (as a real short
//                      submit does); the errno is ignored (give any).
//   epoll_wait         the poll's epoll_wait returns -1 with errno (epoll/).
//   epoll_ctl          EPOLL_CTL_ADD of a descriptor new to the backend
//                      fails with errno: the operation on it fails with it.
//   accept             an accept (either backend) fails with errno before
//                      taking a connection; the connection stays queued.
//   stack_map          mmap of a new stack arena fails (alloc/stack.cc):
//                      the fiber that needed it ends with ENOMEM.
//   fiber_record       allocating a fiber record fails: spawn throws
//                      std::bad_alloc (mimalloc out of memory).
//
// Thread rules: any thread. arm() and disarm_all() while other threads make
// calls are allowed: a call races only in whether it is the one that fails.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>

namespace weft::faults {

enum class Site : std::uint8_t {
  ring_enter,
  ring_short_submit,
  epoll_wait,
  epoll_ctl,
  accept,
  stack_map,
  fiber_record,
};
inline constexpr int kSites = 7;

// The site's name as WEFT_FAULTS spells it ("ring_enter").
const char* name(Site site) noexcept;

// From now on, the site lets `skip` calls through and then fails `count`
// calls (0: no end) with `error` (a positive errno): each call, or with
// `every` above 1, the last of each run of `every` calls.
void arm(Site site, int error, std::uint32_t count = 1, std::uint32_t skip = 0, std::uint32_t every = 1);

// Every site back to normal; the fired() counts stay.
void disarm_all() noexcept;

// How many calls at `site` failed because it was armed, since the process began.
std::uint64_t fired(Site site) noexcept;

// Arms what `spec` says (the WEFT_FAULTS syntax above). Returns "" or what
// is wrong with it ("WEFT_FAULTS: unknown site 'ring_entr'"); arms nothing
// when it is wrong.
std::string arm_from(std::string_view spec);

namespace detail {
extern std::atomic<std::uint32_t> g_armed;  // bit per armed site
int fail_slow(Site site) noexcept;
}  // namespace detail

// At a call site: 0, or the errno this call is to fail with. Any thread.
inline int fail(Site site) noexcept {
  if (detail::g_armed.load(std::memory_order_relaxed) == 0) [[likely]]
    return 0;
  return detail::fail_slow(site);
}

}  // namespace weft::faults
