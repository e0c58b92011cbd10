// What the scheduler needs from an I/O backend, and nothing more.
//
// The scheduler (fibers/) knows no io_uring and no epoll: it asks its Poller
// to submit what fibers queued, to deliver completions (each delivery readies
// a parked fiber through Worker::ready) and, when it has nothing to run, to
// wait until something completes or the next timer is due. io/backend.h
// extends it to operations; the backends in uring/ and epoll/ implement it.
//
// Thread rules: a Poller belongs to one worker; only that worker's thread
// calls it, except wake() and rescue().
#pragma once

#include <cstddef>

#include <weft/fibers/cancel.h>
#include <weft/fibers/checks.h>

namespace weft {
struct Stats;
}

namespace weft::fibers {

class Scheduler;

class Poller {
 public:
  virtual ~Poller() = default;

  // The thread that owns the backend: its worker's (bound by
  // Worker::Binding); the owner-only calls check it in checked builds.
  OwnerThread owner;

  // Set by the worker before each poll: how many more fibers its local run
  // queue holds without spilling into the global queue. A backend that can
  // leave readiness waiting in the kernel (epoll's ready list) delivers no
  // more than this in one poll, so that the fibers already queued, some of
  // them taken from the global queue for their turn, are not pushed back
  // there behind the newcomers (which starved some of 1000 connections for
  // a second; perf/RESULTS.md, "epoll's rounds").
  std::size_t room = 256;

  // Submits the work queued since the last call and delivers every completion
  // that is ready. With `block`, first waits until at least one completion
  // arrives or `wake_by` passes (kNoDeadline: no limit). At most one system
  // call that enters the kernel for I/O, whatever the amount of work.
  virtual void poll(bool block, Deadline wake_by, Stats& stats) = 0;

  // True while operations are in flight, i.e. while a completion may still
  // arrive and wake a fiber.
  virtual bool busy() const = 0;

  // Owner only. True if a poll would deliver something without waiting (a
  // hint, for a worker deciding whether to keep spinning; false when the
  // backend cannot tell without a system call).
  virtual bool has_completions() const { return false; }

  // Any thread. Makes a poll that blocks now (or the next one) return soon.
  virtual void wake() = 0;

  // Any thread but the owner's, while the owner runs one fiber for long
  // without yielding (monitor.h): delivers what completions it can without
  // the owner, readying their fibers through `scheduler` (its global queue)
  // so other workers run them. Returns how many fibers it readied. A backend
  // that cannot do this leaves its completions to the owner and returns 0.
  virtual std::size_t rescue(Scheduler& scheduler) {
    (void)scheduler;
    return 0;
  }

  // Cancels everything in flight and waits until the kernel holds no
  // reference to any fiber's memory. Completions delivered meanwhile ready
  // nobody: the worker is stopping. Returns false if some request would not
  // end in time (the kernel may still write into fibers' memory).
  virtual bool cancel_all(Stats& stats) = 0;

  // Submits what is queued (closes from destructors, say) and waits until
  // nothing is in flight. Returns false if something would not end in time.
  virtual bool drain(Stats& stats) = 0;
};

}  // namespace weft::fibers
