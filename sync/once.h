// weft/sync/once.h — running something exactly once, whichever fiber asks.
//
//   weft::Once once;
//   once.call([] { load_the_table(); });   // the first caller runs it;
//                                          // the others park until it is done
//
// As std::call_once: if the function throws, the exception goes to the
// caller that ran it and the Once is not done, so the next call runs it
// again. After done() is true, call() is one acquire load.
//
// Destroy it only once no fiber is inside call(): destroying it while
// fibers wait for the first caller ends the process with a message naming
// its Mutex (weft::Mutex) and the waiting fibers, as for a Mutex.
//
// Thread rules: call() on a fiber of any worker (a later call, once done,
// from anywhere). The function must not call() the same Once (it would
// wait for itself).
#pragma once

#include <atomic>
#include <mutex>

#include <weft/sync/mutex.h>

namespace weft {

class Once {
 public:
  template <class F>
  void call(F&& fn) {
    if (done_.load(std::memory_order_acquire)) return;
    std::lock_guard<Mutex> g(mutex_);
    if (done_.load(std::memory_order_relaxed)) return;
    fn();
    done_.store(true, std::memory_order_release);
  }
  bool done() const { return done_.load(std::memory_order_acquire); }

 private:
  std::atomic<bool> done_{false};
  Mutex mutex_;  // held by the caller that runs the function
};

}  // namespace weft
