// weft/io/signal.h — signals as events a fiber waits for.
//
//   auto signals = weft::os::Signals::watch({SIGINT, SIGTERM}).value();
//   int sig = signals.wait().value();  // parks this fiber until one arrives
//
// While a Signals watches a signal, that signal no longer has its default
// effect (ending the process, for most): each arrival is counted, and wait()
// hands them out one at a time (the lowest signal number first when several
// are waiting; a signal that arrives twice before it is taken is handed out
// twice, unless the kernel merged the two, as it does for a standard signal
// still pending). Signals nobody watches keep their behaviour; when the last
// watcher of a signal goes, the handling it had before comes back.
//
// Nothing needs blocking by hand, in any thread: the runtime installs a
// handler (sigaction) that counts the signal and writes to each watcher's
// eventfd, which the waiting fiber reads through its backend. (signalfd
// would need the signal blocked in every thread of the process, including
// threads weft did not start; a handler works on whichever thread the
// kernel picks.) A signal blocked in every thread never reaches the
// handler: a program that blocks signals to read them with its own
// signalfd keeps doing that.
//
// Under ThreadSanitizer a handler runs only when its thread next enters a
// call the sanitizer intercepts: a signal the kernel hands to a worker
// asleep in io_uring_enter (or epoll_pwait2) waits for that worker's next
// wake-up.
//
// Several Signals may watch one signal: each gets every arrival. Up to 64
// Signals exist at once.
//
// Errors: a signal that cannot be caught (SIGKILL, SIGSTOP), a fault signal
// the runtime reports itself (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP,
// SIGSYS) or a number outside 1..64 is std::invalid_argument naming it;
// running out of descriptors or of the 64 places is an error value.
//
// Thread rules: watch() from any thread; wait() and poll() from one fiber at
// a time, of the runtime that first waits.
#pragma once

#include <array>
#include <cstdint>
#include <initializer_list>

#include <weft/fibers/cancel.h>
#include <weft/fibers/result.h>
#include <weft/io/stream.h>

namespace weft::os {

class Signals {
 public:
  static constexpr int kMaxSignal = 64;

  // Starts watching `signals` (at least one).
  static Result<Signals> watch(std::initializer_list<int> signals);

  Signals(Signals&& other) noexcept;
  Signals& operator=(Signals&& other) noexcept;
  ~Signals();

  // The next signal that arrived and was not handed out yet; parks until one
  // does. std::errc::timed_out at the deadline, operation_canceled when the
  // token is cancelled (a signal arriving then is still counted).
  Result<int> wait(const WaitOptions& options = {});
  // The same without waiting: 0 when none is there.
  int poll();

  // "SIGTERM", "SIGRTMIN+3", ...; "signal N" for a number without a name.
  static const char* name(int signal, char (&buffer)[24]) noexcept;

 private:
  Signals(int slot, Stream wake) : slot_(slot), wake_(std::move(wake)) {}
  void release() noexcept;

  int slot_ = -1;
  std::array<std::uint32_t, kMaxSignal + 1> seen_{};
  Stream wake_;  // the slot's eventfd
};

}  // namespace weft::os
