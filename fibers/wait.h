// Waiter: one parked fiber waiting for a wake-up, its deadline or its
// cancellation, whichever comes first. Every user-space wait in weft (events,
// joins with options, accept queues, ...) is a Waiter in some list.
//
// The Waiter lives in the frame of the fiber that waits. The object it waits
// on keeps a pointer to it while it is parked; wake() tells the first cause
// apart from the later ones, so a timeout racing a wake-up readies the fiber
// once.
//
// Thread rules: owner worker only (the waiting fiber's worker).
#pragma once

#include <weft/fibers/cancel.h>
#include <weft/fibers/scheduler.h>

namespace weft::fibers {

class Waiter {
 public:
  // `worker` is the caller's, as require_fiber() returns it.
  explicit Waiter(Worker& worker);
  Waiter(const Waiter&) = delete;
  Waiter& operator=(const Waiter&) = delete;

  // Parks the calling fiber until wake(), the deadline or the token. Returns
  // 0 when woken, ETIMEDOUT or ECANCELED. Returns at once (without parking)
  // when the token is already cancelled or the deadline has passed.
  int wait(const WaitOptions& options);

  // Wakes the waiter with `outcome` (0, or an errno value) if nothing woke it
  // yet. Returns true when this call woke it.
  bool wake(int outcome = 0);

  bool waiting() const { return outcome_ == kWaiting; }
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
  struct Cancel : CancelToken::Registration {
    Waiter* waiter;
  };

  struct Abandon : AbandonHook {
    Waiter* waiter;
  };

  Worker* worker_;
  Fiber* fiber_;
  int outcome_ = kWaiting;
  const WaitOptions* options_ = nullptr;  // while parked
  DeadlineTimer timer_;
  Cancel cancel_;
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

}  // namespace weft::fibers
