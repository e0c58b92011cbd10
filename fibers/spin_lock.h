// weft/fibers/spin_lock.h — the short lock inside weft's sync primitives.
//
// Every critical section it guards is a few dozen instructions (link or pop
// a waiter, move a value), never a park or a system call, so spinning beats
// a futex-based mutex: lock and unlock are one atomic exchange and one store.
// A waiter that spins long (the holder's thread was preempted) yields its
// CPU between tries.
//
// Thread rules: any thread; not recursive.
#pragma once

#include <atomic>

namespace weft::fibers {

class SpinLock {
 public:
  void lock() noexcept {
    if (!flag_.exchange(true, std::memory_order_acquire)) [[likely]]
      return;
    lock_slow();
  }
  bool try_lock() noexcept {
    return !flag_.load(std::memory_order_relaxed) &&
           !flag_.exchange(true, std::memory_order_acquire);
  }
  void unlock() noexcept { flag_.store(false, std::memory_order_release); }

 private:
  void lock_slow() noexcept;
  std::atomic<bool> flag_{false};
};

}  // namespace weft::fibers
