// weft/sync/condvar.h — a condition variable for fibers holding a weft::Mutex.
//
//   std::unique_lock<weft::Mutex> lk(m);
//   cv.wait(lk, [&] { return !queue.empty(); });
//
// As std::condition_variable, but waiting parks the fiber. The wait is
// queued before the mutex is released, so a notify after that cannot be
// missed; spurious wake-ups do not happen, yet a woken fiber must still check
// its condition (another may have got there first).
//
// Thread rules: wait() on a fiber holding the mutex; notify_*() from any
// fiber or thread, with or without the mutex.
// Destroying it while a fiber waits on it ends the process with a message
// naming it and the waiting fiber (tests/fibers/misuse_test.cc); waits of
// fibers a finished run() abandoned do not count.
#pragma once

#include <mutex>
#include <system_error>

#include <weft/fibers/cancel.h>
#include <weft/sync/mutex.h>
#include <weft/sync/wait_list.h>

namespace weft {

class CondVar {
 public:
  CondVar() = default;
  ~CondVar();
  CondVar(const CondVar&) = delete;
  CondVar& operator=(const CondVar&) = delete;

  // Releases the mutex, parks until notified (or the deadline, or
  // cancellation), and locks the mutex again before returning, whatever the
  // outcome. Empty error when notified.
  std::error_code wait(std::unique_lock<Mutex>& lock, const WaitOptions& options = {});

  // Waits until pred() holds; std::errc::timed_out / operation_canceled if
  // the wait ends first with pred() still false.
  template <class Pred>
  std::error_code wait(std::unique_lock<Mutex>& lock, Pred pred, const WaitOptions& options = {}) {
    while (!pred()) {
      if (std::error_code e = wait(lock, options); e) return pred() ? std::error_code() : e;
    }
    return {};
  }

  void notify_one();
  void notify_all();

 private:
  fibers::SpinLock guard_;
  sync::WaitList waiters_;  // guarded by guard_
};

}  // namespace weft
