// Coalesces wake-ups of one backend.
//
// Many threads may wake a worker (readying a fiber, posting a cancel, the
// scheduler's idle notice) while the worker is busy. One wake-up in flight
// is enough: only the waker that finds the flag clear pays the system call,
// and the owner clears it when the wake-up reaches it, before it looks at
// what the wakers left (its inbox, the global queue, the stop flag).
//
// Why no wake-up is lost: both sides use read-modify-writes on one atomic.
// A waker that finds the flag set read either the owner's clear, or some
// waker's set the owner has not consumed yet; in the second case the owner's
// later clear reads this waker's write (or a later one), so it synchronises
// with it and sees whatever the waker published before calling wake().
//
// The owner must call consumed() after it has taken in the signal (drained
// the eventfd, reaped the completion), never before: a wake-up whose signal
// it swallowed but whose flag it did not clear would silence every later
// waker.
//
// Thread rules: claim() from any thread; consumed() by the owner only.
#pragma once

#include <atomic>

namespace weft::io {

class WakeFlag {
 public:
  // True if the caller must deliver a wake-up (none is pending).
  bool claim() { return !pending_.exchange(true, std::memory_order_acq_rel); }
  // The owner received the pending wake-up (or is about to look for work).
  void consumed() { pending_.exchange(false, std::memory_order_acq_rel); }
  // A wake-up that could not be delivered: let the next waker try.
  void undo() { pending_.store(false, std::memory_order_release); }

 private:
  std::atomic<bool> pending_{false};
};

}  // namespace weft::io
