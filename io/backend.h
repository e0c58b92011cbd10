// The I/O backend interface: what the fiber-facing API (net.h, file.h) asks
// of whatever drives the kernel. The io_uring Ring implements it; the epoll
// backend will implement the same interface.
//
// A backend is also the scheduler's Poller (fibers/poller.h): the worker
// polls it once per round, and each completion readies the fiber that waits.
//
// Thread rules: a backend belongs to one worker; only that worker's thread
// calls it, except what says otherwise (wake, rescue, request_cancel,
// RescueHold).
#pragma once

#include <atomic>
#include <string>

#include <weft/fibers/poller.h>
#include <weft/fibers/spin_lock.h>
#include <weft/io/operation.h>

namespace weft::io {

class Backend;

// The accept queue of one listening socket. The socket (net::TcpListener)
// owns it; the backend that made it serves accepts from it and, when the
// socket closes it, keeps it until the kernel is done with it.
class Listener : public alloc::HeapObject {
 public:
  virtual ~Listener() = default;
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  // The backend serving it; null once that backend was destroyed, after
  // which the socket simply deletes it.
  Backend* backend() const { return backend_; }
  // The socket's other accept queues (one per worker that accepted on it).
  Listener* next_for_socket = nullptr;

 protected:
  explicit Listener(Backend* backend) : backend_(backend) {}
  Backend* backend_;
};

class Backend : public fibers::Poller {
 public:
  // Starts `op` (its fiber and worker are set). Returns true when it
  // completed at once (op.result is final and nobody will ready the fiber);
  // false when the fiber must park until the backend readies it.
  virtual bool submit(Operation& op) = 0;

  // Asks for `op` to end early with -ECANCELED. Harmless if it has already
  // completed or is about to; the fiber is readied once either way.
  virtual void cancel(Operation& op) = 0;

  // Owner only, from an I/O park's commit (the fiber has switched out and
  // the next context has not run yet): everything queued so far belongs to
  // fibers that are parked. Called only when wants_park_commits is set.
  virtual void park_committed() {}
  bool wants_park_commits = false;

  // A listening socket's accept queue, made on its first accept().
  virtual Listener* open_listener(int fd) = 0;
  // The socket is done with `listener` (it closes, or moves to another
  // runtime): waiting accepts end with -ECANCELED, queued connections are
  // closed, and the backend frees it once the kernel has let go of it.
  virtual void close_listener(Listener* listener) = 0;

  // Closes `fd` without waiting: operations still pending on it end with
  // -ECANCELED and the descriptor is closed within the round. For
  // destructors, which must not park.
  virtual void close_in_background(int fd) = 0;

  // The caller took `fd` out of weft's hands (TcpStream::release): forget
  // any state kept for it, without closing it.
  virtual void forget(int fd) { (void)fd; }

  // Owner only. Part of closing `fd` on a runtime with several workers (see
  // io.h): everything this backend has pending or armed on it ends (requests
  // cancelled, accept queues closed, epoll state forgotten), and the kernel
  // has been told by the time this returns.
  virtual void retire_fd(int fd) = 0;

  // ---- cancelling from another worker ----
  // Owner only. Operations with a cancel token are watched while in flight,
  // so that a cancel from another thread can find them (request_cancel).
  void watch(Operation& op);
  // Owner only. `op` completed: stop watching it and ready its fiber.
  void deliver(Operation& op);
  // Any thread, under the token's lock (so `op` is alive): asks this
  // backend's worker to cancel `op` at its next round.
  void request_cancel(Operation& op);

  // The rescuer's hold on the watch list (the monitor's thread, while the
  // owner runs one fiber for long: fibers/poller.h). The list is guarded by
  // a spin lock the owner takes for a few pointer moves; a rescuer only
  // tries it (the owner may hold it across a cancel that waits for a lock
  // the rescuer holds), and if it fails leaves the operation to the owner.
  // While held, unwatch() takes a watched operation off the list so that
  // the rescuer may finish it and ready its fiber elsewhere.
  class RescueHold {
   public:
    explicit RescueHold(Backend& b) : b_(b), held_(b.watch_lock_.try_lock()) {}
    ~RescueHold() {
      if (held_) b_.watch_lock_.unlock();
    }
    RescueHold(const RescueHold&) = delete;
    RescueHold& operator=(const RescueHold&) = delete;
    bool held() const { return held_; }
    // `op` is no longer watched (a no-op if it was not). Requires held().
    void unwatch(Operation& op) { b_.unlink_watched(op); }
    // Requires held(). Offers each watched operation another thread asked
    // to cancel (request_cancel) to `finish`, which returns whether it
    // ended it (unwatching it) or left the request to the owner's scan.
    template <class Finish>
    void serve_cancel_requests(Finish&& finish) {
      // Nothing asked since the last walk: no walk (the list may be long).
      if (!b_.cancels_asked_.exchange(false, std::memory_order_acq_rel)) return;
      bool left = false;
      for (Operation* op = b_.watched_; op != nullptr;) {
        Operation* next = op->watch_next;  // finish() unlinks op, and its fiber may free it
        if (op->cancel_wanted.exchange(false, std::memory_order_acq_rel) && !finish(*op)) {
          op->cancel_wanted.store(true, std::memory_order_release);
          left = true;  // the owner's scan will do it; look again next time
        }
        op = next;
      }
      if (left) b_.cancels_asked_.store(true, std::memory_order_release);
    }

   private:
    Backend& b_;
    bool held_;
  };

  // "io_uring" or "epoll", and a one-line account of what it runs with.
  virtual const char* name() const = 0;
  virtual std::string describe() const = 0;

 private:
  static void scan_cancel_requests(void* backend);
  void unlink_watched(Operation& op);  // under watch_lock_
  // Watched operations, and each one's `watched` flag: written by the owner
  // and by a rescuer holding a RescueHold, under watch_lock_.
  fibers::SpinLock watch_lock_;
  Operation* watched_ = nullptr;  // guarded by watch_lock_
  // Owner only: the owner holds watch_lock_ in scan_cancel_requests, whose
  // cancels may deliver at once (the lock is not recursive).
  bool scanning_ = false;
  // Some request_cancel() since the rescuer last walked the list.
  std::atomic<bool> cancels_asked_{false};
};

// The backend of the calling thread's running runtime, or null.
Backend* current_backend() noexcept;

// Sets the calling thread's backend for the object's lifetime.
class BackendBinding {
 public:
  explicit BackendBinding(Backend* backend);
  ~BackendBinding();
  BackendBinding(const BackendBinding&) = delete;
  BackendBinding& operator=(const BackendBinding&) = delete;

 private:
  Backend* previous_;
};

}  // namespace weft::io
