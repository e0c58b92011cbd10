// Deadlines as the kernel's timespecs, for the backends: absolute
// CLOCK_MONOTONIC times (a ring's linked timeouts) and the time left until
// one (a wait's timeout). `Timespec` is timespec or __kernel_timespec (the
// same two 64-bit fields on x86-64).
//
// Thread rules: none (pure functions).
#pragma once

#include <chrono>

#include <weft/fibers/cancel.h>

namespace weft::io {

template <class Timespec>
Timespec to_timespec(std::chrono::nanoseconds ns) {
  Timespec ts{};
  ts.tv_sec = static_cast<decltype(ts.tv_sec)>(ns.count() / 1'000'000'000);
  ts.tv_nsec = static_cast<decltype(ts.tv_nsec)>(ns.count() % 1'000'000'000);
  return ts;
}

// `d` on the steady clock, which is CLOCK_MONOTONIC.
template <class Timespec>
Timespec absolute_timespec(Deadline d) {
  return to_timespec<Timespec>(std::chrono::duration_cast<std::chrono::nanoseconds>(d.time_since_epoch()));
}

// From now until `d`; zero once it has passed.
template <class Timespec>
Timespec time_left(Deadline d) {
  const auto left = std::chrono::duration_cast<std::chrono::nanoseconds>(d - Clock::now());
  return to_timespec<Timespec>(left.count() > 0 ? left : std::chrono::nanoseconds{0});
}

}  // namespace weft::io
