// Waiter: one parked fiber waiting for a wake-up, its deadline or its
// cancellation, whichever comes first. Every user-space wait in weft (events,
// channels, mutexes, accept queues, ...) is a Waiter in some list.
//
// The Waiter lives in the frame of the fiber that waits. The protocol that
// makes it safe across workers:
//   1. wait() checks the token and the deadline, then parks the fiber.
//   2. Once the fiber has switched out, the worker's next context runs the
//      caller's publish(): it links the waiter where wakers find it, under the
//      lock they take (or says the wait is already over). Only then are the
//      deadline timer and the token registration added. No waker can know of
//      the waiter before it is parked, so no waker readies a running fiber.
//   3. A wake (wake() from any thread, the timer, the token) claims the
//      outcome with a CAS: the first cause wins, later ones do nothing.
//   4. The winner readies the fiber, unless publication (2) is still under
//      way: then it leaves a mark and publication readies it when done.
//   5. Back on a worker, the fiber takes its timer and token registration
//      back (each waits for a callback of its own still running) and the
//      caller unlinks the waiter; only then does the frame go.
//
// Thread rules: wait() on a fiber; wake() from any thread.
#pragma once

#include <atomic>

#include <weft/fibers/cancel.h>
#include <weft/fibers/worker.h>

namespace weft::fibers {

// Steps 2-4 above, for any wait that wakers may find before its fiber has
// switched out (a Waiter; a channel's solo wait).
class ParkHandshake {
 public:
  // The park's commit, after the switch: true when the fiber is now parked
  // (a waker to come readies it), false when a waker came first (the fiber
  // resumes at once).
  bool parked() {
    int expected = kPublishing;
    return phase_.compare_exchange_strong(expected, kParked, std::memory_order_acq_rel);
  }
  // A waker, once it won the claim: true when it must ready the fiber
  // itself; false when the commit will (the waker must not touch the wait
  // again).
  bool woken() { return phase_.exchange(kWoken, std::memory_order_acq_rel) == kParked; }

 private:
  enum : int { kPublishing, kParked, kWoken };
  std::atomic<int> phase_{kPublishing};
};

class Waiter {
 public:
  // `worker` is the caller's, as require_fiber() returns it.
  explicit Waiter(Worker& worker);
  Waiter(const Waiter&) = delete;
  Waiter& operator=(const Waiter&) = delete;

  // Links the parked waiter where wakers will find it, under their lock.
  // Returns false when there is nothing to wait for any more (the fiber then
  // resumes at once with outcome 0).
  using Publish = bool (*)(Waiter& waiter, void* arg);

  // Parks the calling fiber until wake(), the deadline or the token (and,
  // unless options.scoped is false, the fiber's CancelScope: cancel.h).
  // Returns 0 when woken, kDeadlineExceeded (result.h) or ECANCELED. Returns at once (without
  // parking) when a token is already cancelled or the deadline has passed.
  // `where`: what the fiber waits in (Worker::park).
  int wait(const WaitOptions& options, WaitSite where, Publish publish, void* arg);

  // Wakes the waiter with `outcome` (0, or an errno value) if nothing woke
  // it yet. Returns true when this call woke it. Any thread.
  bool wake(int outcome = 0) {
    if (!claim(outcome)) return false;
    finish_wake();
    return true;
  }
  // wake() in two steps, for a waker that holds a lock the woken fiber would
  // otherwise have to take again: claim() decides the outcome (true: this
  // call won) under the lock; finish_wake() readies the fiber and may come
  // after the lock is released. Until then the fiber cannot resume, so the
  // waiter (and whatever the waker handed it) stays put.
  bool claim(int outcome = 0) {
    int expected = kWaiting;
    return outcome_.compare_exchange_strong(expected, outcome, std::memory_order_acq_rel);
  }
  // `next`: see Worker::ready (false when waking many at once).
  void finish_wake(bool next = true);

  Fiber* fiber() const { return fiber_; }

  // What else to undo if the runtime abandons the parked fiber: the object
  // that listed this waiter unlinks it here (called from the home context).
  void on_abandon(void (*unlink)(void* arg), void* arg) {
    unlink_ = unlink;
    unlink_arg_ = arg;
  }

 private:
  static constexpr int kWaiting = -1;
  struct DeadlineTimer : Timer {
    Waiter* waiter;
  };
  struct Cancel : WaitTerms {
    Waiter* waiter;
  };
  struct Abandon : AbandonHook {
    Waiter* waiter;
  };

  static bool commit(Fiber* parked, void* self);
  void take_back_registrations();

  Worker* worker_;  // where the fiber parked (its timer is on this worker's heap)
  Fiber* fiber_;
  std::atomic<int> outcome_{kWaiting};
  ParkHandshake handshake_;
  bool parked_ = false;  // terms_ and timer_ are in use
  Publish publish_ = nullptr;
  void* publish_arg_ = nullptr;
  DeadlineTimer timer_;
  Cancel terms_;  // the options and the fiber's scope
  Abandon abandon_;
  void (*unlink_)(void*) = nullptr;
  void* unlink_arg_ = nullptr;
};

[[noreturn, gnu::cold, gnu::noinline]] void throw_not_on_fiber(const char* what);

// Worker and fiber of the caller; throws std::logic_error naming `what` when
// called outside a fiber.
inline Worker& require_fiber(const char* what) {
  Worker* w = Worker::current();
  if (w == nullptr || !w->on_fiber()) [[unlikely]]
    throw_not_on_fiber(what);
  return *w;
}

// Any thread. Readies `fiber` here, on the caller's worker `me` if it is one
// (Worker::ready: the fiber runs there next), else at home, through the
// inbox of `home`, the worker the fiber parked on (Worker::ready_remote).
void ready_here_or_home(Fiber* fiber, Worker* home, bool next = true,
                         Worker* me = Worker::current());

}  // namespace weft::fibers
