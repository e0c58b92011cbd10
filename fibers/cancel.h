// weft/fibers/cancel.h — deadlines and cancellation for anything that waits.
//
// Every blocking call in weft (sleeping aside) takes a WaitOptions: a deadline
// and/or a CancelToken. Missing the deadline ends the call with
// std::errc::timed_out; cancelling the token ends it with
// std::errc::operation_canceled. Either way the call returns normally with
// that error and the fiber goes on.
//
// A CancelToken may be shared by many waits (cancel one connection's reads
// and writes at once, or every connection at shutdown). Cancelling is sticky:
// a wait that starts on a cancelled token fails at once.
//
// Thread rules: any thread may cancel a token; waits on any worker may use it.
// A mutex guards the registrations, and cancel() runs each wait's callback
// under it, so a wait that unregisters after cancel() began waits until its
// callback is done.
#pragma once

#include <atomic>
#include <chrono>
#include <mutex>

namespace weft {

using Clock = std::chrono::steady_clock;  // CLOCK_MONOTONIC
using Deadline = Clock::time_point;
inline constexpr Deadline kNoDeadline = Deadline::max();

// The deadline `d` from now.
inline Deadline after(Clock::duration d) { return Clock::now() + d; }

class CancelToken;

struct WaitOptions {
  Deadline deadline = kNoDeadline;
  CancelToken* cancel = nullptr;
};

class CancelToken {
 public:
  CancelToken() = default;
  ~CancelToken();
  CancelToken(const CancelToken&) = delete;
  CancelToken& operator=(const CancelToken&) = delete;

  // Cancels every wait registered now and every wait started later.
  void cancel();
  bool cancelled() const { return cancelled_.load(std::memory_order_acquire); }

  // For the runtime's wait implementations: a wait registers while it is
  // parked and is told once if the token is cancelled meanwhile.
  struct Registration {
    void (*on_cancel)(Registration* self) = nullptr;
    Registration* prev = nullptr;
    Registration* next = nullptr;
    CancelToken* token = nullptr;  // set while registered
  };
  // Registers `r`; returns false (and registers nothing) if already cancelled.
  bool add(Registration* r);
  // Unregisters `r` if it is still registered.
  void remove(Registration* r);

 private:
  void unlink(Registration* r);
  std::mutex mutex_;
  Registration* head_ = nullptr;  // guarded by mutex_
  std::atomic<bool> cancelled_{false};
};

}  // namespace weft
