// Timers: one binary min-heap per worker, ordered by deadline and then by
// insertion, so timers with equal deadlines fire in the order they were set.
//
// A Timer lives wherever its owner puts it (usually the frame of the parked
// fiber that waits on it); the heap only points at it and each timer knows
// its heap position, so removing one that did not fire is O(log n).
//
// Thread rules: fire_expired() on the owner worker only; add() and remove()
// from any thread (a fiber parked on one worker may be woken, and go on, on
// another, and must take its timer back). A mutex guards the heap. Callbacks
// run without it, so they may add and remove timers; remove() of a timer
// whose callback is running on another thread waits for the callback to
// return, so a timer's memory may be reused as soon as remove() returns.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

#include <weft/alloc/heap.h>
#include <weft/fibers/cancel.h>

namespace weft::fibers {

struct Timer {
  Deadline deadline = kNoDeadline;
  void (*fire)(Timer* self) = nullptr;  // runs on the home context
  // The callback may run on another thread than the owner's (the monitor's,
  // while the owner runs one fiber for long: fire_expired_elsewhere). Set
  // only for callbacks that ready fibers through ready_here_or_home (or
  // the scheduler's ready_global) and touch the owner's state only under
  // a lock they try, adding the timer back when they fail (the epoll
  // backend's deadlines).
  bool any_thread = false;
  std::uint64_t seq = 0;
  std::uint32_t index = kNotQueued;
  static constexpr std::uint32_t kNotQueued = UINT32_MAX;
  bool queued() const { return index != kNotQueued; }
};

class TimerHeap {
 public:
  // Any thread, without the lock (a hint for the owner's loop).
  bool empty() const { return next_deadline() == kNoDeadline; }
  Deadline next_deadline() const {
    return Deadline(Clock::duration(earliest_.load(std::memory_order_acquire)));
  }
  std::size_t size() const;

  void add(Timer* t);
  // Removes a timer that has not fired; if its callback is running on
  // another thread, returns only once it has. No effect otherwise.
  void remove(Timer* t);
  // remove() for a thread that must not wait: false (nothing done) if the
  // timer's callback is running on another thread right now.
  bool try_remove(Timer* t);
  // Forgets every timer without touching them (their memory may be gone).
  void clear();
  // Owner only. Fires, in order, every timer whose deadline is not after
  // `now`. Returns how many fired.
  unsigned fire_expired(Deadline now);
  // The monitor, while the owner runs one fiber for long (it does not fire
  // timers then): fires, in order, the expired timers marked any_thread,
  // at most `max` of them. Returns how many fired. The others wait for the
  // owner, and so do timers their callbacks add (a callback that cannot do
  // its work off the owner's thread right now adds its timer back).
  unsigned fire_expired_elsewhere(Deadline now, std::size_t max);

 private:
  static bool before(const Timer* a, const Timer* b) {
    return a->deadline < b->deadline || (a->deadline == b->deadline && a->seq < b->seq);
  }
  void sift_up(std::uint32_t i);
  void sift_down(std::uint32_t i);
  void erase(Timer* t);
  void publish_earliest() {
    earliest_.store(heap_.empty() ? kNoDeadline.time_since_epoch().count()
                                  : heap_[0]->deadline.time_since_epoch().count(),
                    std::memory_order_release);
  }
  void place(std::uint32_t i, Timer* t) {
    heap_[i] = t;
    t->index = i;
  }

  mutable std::mutex mutex_;
  std::vector<Timer*, alloc::Allocator<Timer*>> heap_;  // guarded by mutex_
  std::uint64_t next_seq_ = 0;                          // guarded by mutex_
  const Timer* firing_ = nullptr;  // the timer whose callback runs now; guarded by mutex_
  std::thread::id firing_thread_;  // guarded by mutex_
  // The same for fire_expired_elsewhere (the monitor's thread): the two may
  // overlap when the owner's fiber switches out during a rescue.
  const Timer* firing_elsewhere_ = nullptr;  // guarded by mutex_
  std::thread::id firing_elsewhere_thread_;  // guarded by mutex_
  bool firing(const Timer* t) const {  // under mutex_: t's callback runs on another thread
    const std::thread::id me = std::this_thread::get_id();
    return (firing_ == t && firing_thread_ != me) ||
           (firing_elsewhere_ == t && firing_elsewhere_thread_ != me);
  }
  std::atomic<Clock::rep> earliest_{kNoDeadline.time_since_epoch().count()};
};

}  // namespace weft::fibers
