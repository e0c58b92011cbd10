// The scheduler: what the workers of one runtime share.
//
// Vocabulary
//   Fiber      a function with its own stack (fiber.h).
//   Worker     one thread running fibers, with its own run queue, timers,
//              stack pool and I/O backend (worker.h).
//   Scheduler  the workers of a runtime and what they share: the global
//              queue, the list of idle workers, the count of spinning ones,
//              and the stop protocol. This file.
//
// Where runnable fibers live
//   - a worker's local queue (LocalQueue: the owner pushes and pops, anyone
//     steals half);
//   - the global queue: fibers readied from outside any worker, the
//     overflow of a full local queue, and yields while it is not empty (one
//     FIFO over every runnable fiber); every worker takes its share of it at
//     the start of every round (its own queue empty or not) and one fiber
//     every 61 picks within a round, so it cannot starve. Rescued fibers go
//     to its front.
//
// Finding work (a worker whose queue is empty, in this order)
//   1. its inbox (fibers readied by other threads), its backend's
//      completions and its due timers;
//   2. the global queue;
//   3. stealing half of another worker's queue, trying every other worker
//      once from a random start; failing that, the fiber in another worker's
//      next slot if that worker stays on one fiber for 3 µs (worker.h);
//   4. parking: see below.
//
// Parking and waking (no lost wake-ups, no thundering herd)
//   1. A worker with nothing to do puts itself on the idle list, then looks
//      at every queue once more (a fiber may have been queued just before it
//      appeared idle), and only then blocks in its backend's poll, with its
//      next timer as the timeout.
//   2. Whoever makes work available (a spawn, a ready, a global push) calls
//      notify_work(): if no worker is spinning (woken and still looking) and
//      one is idle, it takes that one off the idle list, counts it as
//      spinning and wakes its backend (wake()). At most one worker is woken
//      per notification, and none while another is already looking.
//   3. A spinning worker that finds work stops spinning and calls
//      notify_work() itself, so a burst of work wakes workers one by one, as
//      many as there is work for; one that finds nothing parks again.
//   4. A worker that runs out of work spins for a short while
//      (WorkerOptions::idle_spin, 20 us) before step 1, if no other worker
//      is spinning (try_spin()). Meanwhile it counts as spinning, so a busy
//      worker that readies fibers makes no wake-up system call: a pair of
//      fibers handing off on one worker does not keep waking the other.
//   Steps 1 and 2 each store, then load the other side's state, with a full
//   fence between: whichever runs second sees the first.
//
// Stopping
//   1. When the main fiber finishes (on whichever worker), the scheduler is
//      marked stopping and every worker is woken.
//   2. Every worker leaves its loop, cancels its own backend's I/O and waits
//      for its blocking calls (only its thread may touch its ring).
//   3. The first worker abandons every fiber still alive, on all workers.
//   4. Every worker drains its backend; worker threads end.
//   Barriers separate the phases.
//
// Thread rules: every function may be called from any thread unless it
// says otherwise.
#pragma once

#include <atomic>
#include <barrier>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include <weft/alloc/heap.h>
#include <weft/alloc/stack.h>
#include <weft/fibers/fiber.h>
#include <weft/fibers/intrusive_fifo.h>
#include <weft/fibers/spin_lock.h>

namespace weft::fibers {

class Worker;

class Scheduler {
 public:
  // A scheduler for `workers` workers; `guard_bytes` sizes the stack guards.
  Scheduler(std::size_t workers, std::size_t guard_bytes);
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  std::size_t size() const { return workers_.size(); }
  bool single() const { return workers_.size() == 1; }
  // Every worker calls this once, from its own thread, before running fibers.
  void attach(std::size_t index, Worker* worker);
  Worker* worker(std::size_t index) const { return workers_[index]; }
  alloc::StackArenas& arenas() { return arenas_; }

  // ---- the global queue ----
  // Queues a list of `n` fibers, already runnable, linked through
  // Fiber::next, and wakes a worker for them. Moving a queued fiber (the
  // monitor taking a busy worker's next slot) comes here, not to
  // ready_global: a runnable fiber is not readied twice.
  void push_global(Fiber* first, Fiber* last, std::uint32_t n);
  void push_global(Fiber* f) { push_global(f, f, 1); }
  // The same at the front: fibers rescued from a worker that cannot run
  // them now (it is stuck on a fiber, or its thread is not running), which
  // would have run soon there. At the tail they would wait behind every
  // fiber queued (with thousands yielding, tens of milliseconds).
  void push_global_front(Fiber* first, Fiber* last, std::uint32_t n);
  void push_global_front(Fiber* f) { push_global_front(f, f, 1); }
  // Takes up to `max` fibers as a list (null when empty); *n says how many.
  Fiber* take_global(std::uint32_t max, std::uint32_t* n);
  // Any thread. Readies a parked fiber onto the global queue (its front),
  // waking a worker for it: for a thread that is not the fiber's worker and
  // must not wait for it (the monitor rescuing completions from a busy
  // worker).
  // Returns false, and does nothing, once the runtime is stopping (the
  // fiber stays parked and is abandoned).
  bool ready_global(Fiber* f);
  bool global_empty() const { return global_size_.load(std::memory_order_acquire) == 0; }
  std::uint32_t global_size() const { return global_size_.load(std::memory_order_acquire); }

  // ---- idle and spinning workers ----
  // Work became available: wake an idle worker unless one is already looking.
  void notify_work();
  // The calling worker (owner thread) goes idle; it must look for work once
  // more before it blocks.
  void go_idle(Worker* w);
  // The calling worker woke up. Returns true if notify_work() chose it (it is
  // then spinning), false if it woke on its own (I/O, a timer).
  bool leave_idle(Worker* w);
  // The calling worker ran out of work and would look a little longer before
  // sleeping: true if it may (it then counts as spinning, and notify_work()
  // leaves the sleepers alone); false if another worker is already looking.
  bool try_spin() {
    int expected = 0;
    return spinning_.compare_exchange_strong(expected, 1, std::memory_order_acq_rel);
  }
  // A worker chosen by notify_work(), or admitted by try_spin(), stopped
  // looking.
  void done_spinning() { spinning_.fetch_sub(1, std::memory_order_acq_rel); }
  int idle_count() const { return idle_count_.load(std::memory_order_acquire); }

  // ---- stopping ----
  // The runtime's main fiber: when it finishes, the runtime stops. Another
  // worker may have run it to its end already: then stop at once.
  void watch_main(Fiber* main);
  bool is_main(const Fiber* f) const { return main_.load(std::memory_order_seq_cst) == f; }
  // Marks the runtime stopping and wakes every worker.
  void begin_stop();
  bool stopping() const { return stopping_.load(std::memory_order_acquire); }
  // Every worker meets here between stop phases.
  void stop_barrier() { stop_barrier_.arrive_and_wait(); }
  // A worker found the runtime deadlocked: remember why, and stop.
  void report_deadlock(std::string message);
  // The deadlock report, if there was one (read after the workers stopped).
  const std::string& deadlock() const { return deadlock_; }
  // Fibers alive on all workers (a snapshot).
  std::int64_t live_fibers() const;

 private:
  void store_load_fence();

  alloc::StackArenas arenas_;
  std::vector<Worker*> workers_;
  // Every live scheduler is on one list, for debuggers (tools/gdb/weft.py
  // starts at weft_debug_schedulers): linked and unlinked under a global
  // mutex by the constructor and destructor, never read by the runtime.
  Scheduler* debug_next_ = nullptr;

  SpinLock global_mutex_;  // held for a few pointer moves: spin, never sleep
  IntrusiveQueue<Fiber> global_;  // guarded by global_mutex_
  std::atomic<std::uint32_t> global_size_{0};

  std::mutex idle_mutex_;
  std::vector<Worker*> idle_;  // guarded by idle_mutex_
  std::atomic<int> idle_count_{0};
  std::atomic<int> spinning_{0};
  std::atomic<int> fence_word_{0};  // store_load_fence() under ThreadSanitizer

  std::atomic<Fiber*> main_{nullptr};
  std::atomic<bool> stopping_{false};
  std::barrier<> stop_barrier_;
  std::mutex deadlock_mutex_;
  std::string deadlock_;  // guarded by deadlock_mutex_
};

}  // namespace weft::fibers
