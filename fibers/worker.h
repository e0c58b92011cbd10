// The scheduler: one Worker per thread that runs fibers.
//
// Vocabulary
//   Fiber   a function with its own stack (fiber.h).
//   Worker  a thread that runs fibers: run queue, timers, stack pool, and
//           one Poller (the I/O backend, poller.h). This file.
//   home    the worker thread's own stack. The worker's loop runs there
//           between rounds; fibers switch back to it when the round is over.
//
// Ownership and threads
//   Everything a Worker holds is touched only by its own thread: run queue,
//   timers, stacks, counters, the poller. Functions below say "Owner only."
//   The only cross-thread traffic is freeing a finished fiber record, which
//   goes through the record's atomic join_state (fiber.h).
//
// Scheduling rounds
//   1. The home context polls the backend once: it submits every operation
//      fibers queued during the last round and collects every completion that
//      is ready (one io_uring_enter at most). If nothing is runnable it blocks
//      there until a completion arrives or the next timer is due.
//   2. Expired timers fire; completions and timers ready their fibers.
//   3. The round's budget is the run queue's length now (at least 64 hand-
//      offs). The home context switches to the first fiber; from then on
//      fibers switch directly to one another (no trip through home) each time
//      one yields, parks or finishes, until the budget is spent or nothing is
//      runnable. The budget bounds the round, so a yield loop cannot starve
//      I/O or timers.
//   4. The last fiber of the round switches back home: go to 1.
//
// Parking (the protocol every wait is built on)
//   1. The fiber records where it waits (wait list, timer, in-flight
//      operation) and calls park(commit, arg).
//   2. park() picks the next context and switches to it.
//   3. The next context, before doing anything else, runs commit(fiber, arg)
//      for the fiber that just left. The fiber's registers are saved by then,
//      so commit may publish it to other threads; if commit returns false (the
//      event already happened) the fiber is readied at once.
//   4. Whoever the fiber waits for calls ready(fiber) exactly once.
//   The same hand-over runs when a fiber finishes: the next context returns
//   the finished fiber's stack to the pool (nobody can free the stack it is
//   running on) and only then publishes kJoinFinished.
//
// A fiber gets its stack when it is first switched to, not when spawned, so
// a million spawned-but-not-started fibers cost only their records.
//
// Rejected
//   - Always switching through home (as Go switches to g0): one extra switch
//     per hand-over for no benefit; home runs only between rounds here.
//   - One io_uring_enter per operation: batching per round is the point.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <vector>

#include <weft/alloc/overflow.h>
#include <weft/alloc/stack.h>
#include <weft/fibers/fiber.h>
#include <weft/fibers/poller.h>
#include <weft/fibers/run_queue.h>
#include <weft/fibers/stats.h>
#include <weft/fibers/timer.h>

namespace weft::fibers {

struct WorkerOptions {
  std::size_t default_stack_size = alloc::StackPool::kDefaultSize;
  alloc::StackPoolOptions stacks;
};

class Worker {
 public:
  // Owner only: constructed on the thread it will run on.
  Worker(Poller& poller, const WorkerOptions& options = {});
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // The worker bound to the calling thread, or null. Any thread.
  static Worker* current() noexcept { return tls_current_; }

  // Binds this worker to the calling thread for the object's lifetime.
  class Binding {
   public:
    explicit Binding(Worker& w);
    ~Binding();
    Binding(const Binding&) = delete;
    Binding& operator=(const Binding&) = delete;

   private:
    Worker* previous_;
  };

  // Owner only. The fiber running now (&home when none).
  Fiber* current_fiber() const { return current_; }
  bool on_fiber() const { return current_ != &home_; }

  // Owner only. spawn(): a record with room for the task (throws
  // std::system_error when the fiber cannot be made), then launch() it.
  Fiber* create(std::size_t task_size, std::size_t task_align, const SpawnOptions& options,
                void** task);
  void launch(Fiber* fiber, TaskBase* task);
  void discard(Fiber* fiber) noexcept;

  // Owner only, on the home context. Runs rounds until `main` has finished.
  // Throws std::runtime_error if every fiber is parked with nothing that can
  // wake them (a deadlock).
  void run(Fiber* main);
  // Owner only, on the home context, after run(). Cancels I/O in flight and
  // abandons every fiber that has not finished: each parked fiber's abandon
  // hook detaches it from what it waits on, its stack goes back to the pool
  // without unwinding, and its handle reports the abandonment. Then drains
  // the backend (destroyed captures may have queued closes).
  void stop();

  // Owner only. Makes a parked fiber runnable.
  void ready(Fiber* fiber);
  // Owner only, on a fiber, before it parks to wait for another thread (the
  // blocking pool): the worker then neither reports a deadlock nor stops
  // before that thread is done with the fiber's memory.
  void expect_remote() { ++remote_expected_; }
  // Owner only. No fiber waits on another thread any more.
  bool remote_settled() const { return remote_expected_ == 0; }
  // Any thread. Readies a fiber parked on this worker, at the start of the
  // worker's next round, and wakes the worker if it sleeps. `announced`: the
  // fiber was counted by expect_remote() (a blocking-pool job).
  void ready_remote(Fiber* fiber, bool announced = false);
  // Owner only, on a fiber. Lets the rest of the round run first.
  void yield();
  // Owner only, on a fiber. See "Parking" above. `commit` may be null.
  using Commit = bool (*)(Fiber* parked, void* arg);
  void park(Commit commit = nullptr, void* arg = nullptr);

  // Owner only.
  TimerHeap& timers() { return timers_; }
  Stats& counters() { return stats_; }
  Stats snapshot() const;
  alloc::StackPool& stacks() { return stacks_; }

  // Owner only. The entry of every fiber stack; see scheduler.cc.
  static void fiber_main(void* fiber, void* from);

 private:
  enum class After : std::uint8_t { nothing, park, finish };

  void round();
  void take_inbox();
  bool wait_for_remote();
  Fiber* pick_next();
  bool prepare(Fiber* f);
  void switch_to(Fiber* next);
  void after_switch(Fiber* previous);
  [[noreturn]] void finish_current();
  void complete(Fiber* f);
  void abandon(Fiber* f);
  void link(Fiber* f);
  void unlink(Fiber* f);
  std::uint64_t next_id();
  [[gnu::cold]] void check_guard_budget();
  [[noreturn, gnu::cold]] static void throw_stack_too_large(std::size_t asked);
  [[gnu::cold, gnu::noinline]] void fail_to_start(Fiber* f, int rc);
  [[noreturn, gnu::cold]] void report_deadlock();

  // initial-exec: a plain %fs-relative load, not a call to __tls_get_addr.
  // constinit: no lazy-initialisation guard on each access.
  [[gnu::tls_model("initial-exec")]] static constinit thread_local Worker* tls_current_;

  Poller& poller_;
  WorkerOptions options_;
  std::size_t default_stack_size_;  // options_.default_stack_size, rounded
  bool guard_budget_limited_;       // the mprotect guard method caps stacks
  alloc::AltStack alt_stack_;
  alloc::StackPool stacks_;
  RunQueue run_queue_;
  TimerHeap timers_;
  Fiber home_;
  Fiber* current_ = &home_;
  Fiber* live_ = nullptr;  // fibers created and not finished
  std::uint64_t fp_control_;
  EhGlobals* eh_globals_;
  After after_ = After::nothing;
  Commit commit_ = nullptr;
  void* commit_arg_ = nullptr;
  std::size_t round_left_ = 0;
  std::uint64_t id_next_ = 0;
  std::uint64_t id_end_ = 0;
  bool stopping_ = false;
  bool leak_abandoned_stacks_ = false;
  Stats stats_;

  // Fibers readied by other threads (ready_remote), taken each round.
  std::mutex inbox_mutex_;
  struct Arrival {
    Fiber* fiber;
    bool announced;
  };
  std::vector<Arrival, alloc::Allocator<Arrival>> inbox_;  // guarded by inbox_mutex_
  std::atomic<bool> inbox_full_{false};
  std::size_t remote_expected_ = 0;  // parked fibers waiting on other threads
};

// Prints "weft: uncaught exception in detached fiber <name> (#id): <what>"
// and aborts. Any thread.
[[noreturn]] void report_detached_error(const Fiber* f);

// Frees a finished fiber's record and its task's outcome. Any thread.
void free_record(Fiber* f) noexcept;

}  // namespace weft::fibers
