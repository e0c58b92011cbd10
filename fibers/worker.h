// The Worker: one thread that runs fibers. The workers of a runtime share a
// Scheduler (scheduler.h: global queue, idle workers, stopping).
//
// Vocabulary
//   Fiber   a function with its own stack (fiber.h).
//   Worker  a thread that runs fibers: a local run queue others may steal
//           from, timers, a stack pool, and one Poller (the I/O backend,
//           poller.h). This file.
//   home    the worker thread's own stack. The worker's loop runs there
//           between rounds; fibers switch back to it when the round is over.
//
// Ownership and threads
//   Split by who may touch it (Worker::Remote). Owned by its thread, and
//   checked in checked builds (checks.h): the poller, the stack pool, the
//   counters, the current fiber and round. In Worker::Remote, each with its
//   own rule: the next slot, the inbox (locked: other threads ready fibers
//   through it), what the monitor reads. With their own rules: the local
//   queue (the owner pushes and pops, anyone steals: local_queue.h), the
//   timer heap (locked: a fiber woken elsewhere takes its timer back), the
//   list of live fibers (locked when there are several workers: a fiber may
//   finish on another worker than the one that made it). Functions say
//   "Owner only." or "Any thread.".
//
// Scheduling rounds
//   1. The home context takes its inbox and its share of the global queue
//      (every round, even with fibers of its own queued: a fiber yielding in
//      a loop must not keep the global queue waiting), and polls the
//      backend once: it submits every operation fibers queued during the
//      last round and collects every completion that is ready (one
//      io_uring_enter at most).
//      With nothing to run it first looks for work elsewhere (the global
//      queue, then stealing: scheduler.h) and otherwise parks: it blocks in
//      that poll until a completion, its next timer, or a waker.
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
//   The same hand-over runs when a fiber yields (the next context queues it:
//   queued any earlier, another worker could steal it while it still runs)
//   and when a fiber finishes: the next context returns
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
#include <chrono>
#include <ctime>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <vector>

#include <weft/alloc/overflow.h>
#include <weft/alloc/stack.h>
#include <weft/fibers/fiber.h>
#include <weft/fibers/local_queue.h>
#include <weft/fibers/poller.h>
#include <weft/fibers/probes.h>
#include <weft/fibers/scheduler.h>
#include <weft/fibers/stats.h>
#include <weft/fibers/timer.h>
#include <weft/fibers/trace.h>

namespace weft::fibers {

struct WorkerOptions {
  std::size_t default_stack_size = alloc::StackPool::kDefaultSize;
  alloc::StackPoolOptions stacks;
  // Every worker idle with nothing that could wake a fiber: after this
  // long, say so on stderr (once per such spell) and sleep on (a thread
  // outside the runtime may still set an event or send on a channel). 0:
  // never.
  std::chrono::milliseconds deadlock_report{1000};
  // Stop the run with that report at once instead of sleeping.
  bool detect_deadlock = false;
  // Perturb the scheduling order (tests): a woken fiber goes to the next slot
  // or the queue's tail at random, and each pick first moves 0-3 fibers from
  // the queue's head to its tail. Finds code that relies on an order the
  // runtime does not promise.
  bool shuffle = false;
  // With several workers, a worker that runs out of work first spins this
  // long looking for more (one such worker at a time) before it sleeps in
  // its backend: while it spins, readying a fiber costs no wake-up system
  // call. 0: sleep at once.
  std::chrono::microseconds idle_spin{20};
  // When the run ends, how long to wait for blocking calls still running on
  // other threads (weft::blocking, the epoll backend's file operations),
  // whose fibers' stacks they may still write. Said on stderr when there
  // are any; past it their fibers are abandoned and their stacks kept.
  std::chrono::milliseconds exit_wait{5000};
};

class Worker {
 public:
  // Owner only: constructed on the thread it will run on, as worker `index`
  // of `scheduler`.
  Worker(Poller& poller, Scheduler& scheduler, std::size_t index,
         const WorkerOptions& options = {});
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // The worker bound to the calling thread, or null. Any thread.
  //
  // Out of line on purpose: a fiber may resume on another thread than the
  // one it parked on, and a compiler may keep a thread-local's *address*
  // across a call it cannot see into (it assumes a function never changes
  // threads). Every caller gets a fresh lookup; code must not keep the
  // result across a switch (park, yield, I/O).
  [[gnu::noinline]] static Worker* current() noexcept;

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

  // Any thread. Fibers made on this worker minus fibers finished on it (a
  // fiber may finish elsewhere, so one worker's figure can be negative; the
  // sum over workers is the number alive).
  std::int64_t live_balance() const { return remote_.live_balance.load(std::memory_order_relaxed); }
  // Any thread. Published before the worker sleeps: nothing of its own (a
  // timer, I/O in flight, a blocking call) can wake one of its fibers.
  bool idle_without_prospects() const { return remote_.quiet.load(std::memory_order_acquire); }

  // Owner only. The fiber running now (&home when none).
  Fiber* current_fiber() const { return current_; }

  // Any thread, for the monitor (monitor.h): a count of switches, and the
  // fiber the last one went to (null: the worker's own loop, or asleep).
  // Written by the owner at every switch, relaxed: a sample, not a sync.
  std::uint64_t switch_count() const { return remote_.switch_seq.load(std::memory_order_acquire); }
  // CPU time the worker's thread has used so far. Any thread.
  std::chrono::nanoseconds cpu_time() const;
  // Whether the worker's thread sleeps in the kernel right now (state S or
  // D in /proc: a blocking system call), as opposed to running or waiting
  // for a CPU. Any thread; a few microseconds (reads /proc).
  bool thread_sleeps_in_kernel() const;
  const Fiber* running() const { return remote_.running.load(std::memory_order_acquire); }
  // Any thread, for the monitor: if the worker is still on the fiber it was
  // on at switch `count`, copies that fiber's name and id and returns true.
  struct RunningFiber {
    std::uint64_t id = 0;
    char name[32] = {};
  };
  bool describe_running(std::uint64_t count, RunningFiber& out) const;
  // Any thread, for the monitor: the backend, whose rescue() may be called.
  Poller& backend() { return backend_; }
  bool on_fiber() const { return current_ != &home_; }

  // Owner only. spawn(): a record with room for the task (throws
  // std::system_error when the fiber cannot be made), then launch() it.
  Fiber* create(std::size_t task_size, std::size_t task_align, const SpawnOptions& options,
                void** task);
  void launch(Fiber* fiber, TaskBase* task);
  void discard(Fiber* fiber) noexcept;

  // Owner only, on the home context. Runs rounds until the scheduler stops
  // (its main fiber finished). Throws std::runtime_error if, with a single
  // worker, every fiber is parked with nothing that can wake them (a
  // deadlock).
  void run();
  // Owner only, after run(): the stop phases of scheduler.h, in step with
  // every other worker (barriers between them); one `leader` abandons what
  // is left on all workers.
  //   quiesce(): no I/O in flight on this worker's backend, no blocking call
  //     of its fibers still running; ready() does nothing from now on.
  //   take_inbox(): tasks other workers posted before they went quiet run
  //     while every fiber's stack is still intact.
  //   abandon_all(): (the leader) every fiber still alive on any worker is
  //     detached from what it waits on, its stack goes back without
  //     unwinding, and its handle reports the abandonment.
  //   drain(): runs tasks posted since, and hands the closes destroyed
  //     captures queued to the kernel.
  void stop(bool leader);

  // Any thread. Wakes the worker if it is parked.
  void wake() { backend_.wake(); }
  // Any thread. Runs fn(arg) on this worker's home context at the start of
  // its next round (where its backend may be used), waking it if it sleeps.
  void post(void (*fn)(void* arg), void* arg);
  std::size_t index() const { return index_; }
  Scheduler& scheduler() { return scheduler_; }

  // Owner only. Makes a parked fiber runnable here. Readied by a running
  // fiber (a send, an unlock, a set), it goes to the next slot and runs as
  // soon as the current fiber switches out, ahead of the queue. An idle
  // worker may take it only if this worker stays on the same fiber for a few
  // microseconds: a fiber and the one it woke stay together.
  // The slot lives for one round: the next round starts by queuing it. From
  // the home context (completions, timers, other threads) it is queued, and
  // may be stolen, as with `next` false (waking many at once: they run in
  // the order they were readied).
  void ready(Fiber* fiber, bool next = true) {
    owner_.check("Worker", "ready");
    // The common hand-off of a lone worker, inline: a running fiber readies
    // the one it woke into the empty next slot.
    if (!multi_ && !options_.shuffle && next && on_fiber() && !stopping_ && !firing_timers_ &&
        remote_.next.load(std::memory_order_relaxed) == nullptr) {
      count_ready(fiber);
      remote_.next.store(fiber, std::memory_order_relaxed);
      return;
    }
    ready_slow(fiber, next);
  }
  // Any thread, for the monitor: takes the fiber waiting in the next slot of
  // a worker stuck on one fiber (null if none), so another worker can run it.
  Fiber* take_next_slot() { return remote_.next.exchange(nullptr, std::memory_order_acq_rel); }
  // Owner only, on a fiber, before it parks to wait for another thread (the
  // blocking pool): the worker then neither reports a deadlock nor stops
  // before that thread is done with the fiber's memory.
  void expect_remote() { remote_.remote_expected.fetch_add(1, std::memory_order_relaxed); }
  // Owner only. Undoes expect_remote() for a job that never started.
  void settle_remote() { remote_.remote_expected.fetch_sub(1, std::memory_order_relaxed); }
  // Owner only. No fiber waits on another thread any more.
  bool remote_settled() const { return remote_.remote_expected.load(std::memory_order_acquire) == 0; }
  // Any thread. Readies a fiber parked on this worker, at the start of the
  // worker's next round, and wakes the worker if it sleeps. `announced`: the
  // fiber was counted by expect_remote() (a blocking-pool job): while the
  // worker is stuck on one fiber (mark_stuck), the global queue takes such
  // a fiber, so it must have switched out already (jobs are submitted in
  // the park's commit).
  void ready_remote(Fiber* fiber, bool announced = false);
  // The monitor: the worker has been on one fiber since switch `count`;
  // until it switches again, ready_remote() sends fibers back from the
  // blocking pool elsewhere.
  void mark_stuck(std::uint64_t count) { remote_.stuck_at.store(count + 1, std::memory_order_release); }
  // The monitor, while this worker runs one fiber for long: fires its
  // expired timers that may fire on any thread (sleeps, wait deadlines),
  // then moves the fibers in its inbox (woken by those timers, by plain
  // threads, by the blocking pool) to the global queue, where other workers
  // run them. Posted tasks stay for the owner. Returns the fibers moved.
  std::size_t rescue_arrivals();
  // Owner only, on a fiber. Lets the rest of the round run first.
  void yield();
  // Owner only, on a fiber. See "Parking" above. `where` says what the
  // fiber waits in (the deadlock report lists it); `commit` may be null.
  using Commit = bool (*)(Fiber* parked, void* arg);
  void park(WaitSite where, Commit commit = nullptr, void* arg = nullptr);

  // Owner only.
  TimerHeap& timers() { return timers_; }
  Stats& counters() { return stats_; }
  Stats snapshot() const;
  // The pool is owner-only as well, and reached only through here (alloc/
  // sits below the checks): checked builds check it at this door.
  alloc::StackPool& stacks() {
    owner_.check("Worker", "stacks");
    return stacks_;
  }

  // Owner only. The entry of every fiber stack (`from`: the worker that
  // switched to it); see scheduler.cc.
  static void fiber_main(void* fiber, void* from);

 private:
  enum class After : std::uint8_t { nothing, requeue, park, finish };

  void ready_slow(Fiber* fiber, bool next);
  // What every ready() does first: counts it, tells the probes and the
  // trace, and makes the fiber runnable.
  void count_ready(Fiber* fiber) {
    ++stats_.wakeups;
    if (WEFT_PROBE_ENABLED(wake)) [[unlikely]]
      probes::wake(fiber->id);
    if (trace::on()) [[unlikely]]
      trace::wake(fiber, &scheduler_);
    fiber->become(FiberState::runnable);
  }
  void round();
  // Runs the tasks and readies the fibers delivered to the inbox, oldest
  // first, at most `limit` of them (in batches of kInboxBatch); what is left
  // stays for the next round. A round takes a bounded share (take_inbox_share)
  // so that a flood of arrivals from other threads cannot fill the local
  // queue: a fiber a timer woke would be queued behind it, or overflow into
  // the global queue behind everything there. The stop phases take it all.
  void take_inbox(std::size_t limit = SIZE_MAX);
  void take_inbox_share();
  void quiesce();
  void abandon_all();
  void drain();
  bool find_work();
  bool take_global_share();
  bool steal();
  bool anything_queued_anywhere() const;
  void sleep_until_work();
  void poll(bool block);
  [[gnu::cold, gnu::noinline]] void poll_traced(bool block);
  bool spin_for_work();
  void take_arrivals();
  void fire_timers();
  void put_next(Fiber* fiber);
  bool wait_for_remote();
  void enqueue(Fiber* fiber);
  void enqueue_here(Fiber* fiber);
  [[gnu::noinline]] void make_room(Fiber* fiber);
  void overflow(Fiber* fiber);
  Fiber* pick_next();
  Fiber* pick_next_any();
  Fiber* take_next();
  bool steal_next(std::size_t start);
  void count_steal(Worker* victim, std::uint32_t got);
  struct Arrival;
  using Inbox = std::vector<Arrival, alloc::Allocator<Arrival>>;
  void deliver(const Arrival& a);
  Inbox empty_inbox();
  static constexpr std::size_t kInboxBatch = 64;
  std::size_t take_inbox_batch(Arrival* batch, std::size_t most);
  bool prepare(Fiber* f);
  void switch_to(Fiber* next);
  void after_switch(Fiber* previous);
  [[gnu::noinline]] void after_switch_rest(Fiber* previous, After what);
  [[noreturn]] void finish_current();
  void complete(Fiber* f);
  void abandon(Fiber* f);
  void link(Fiber* f);
  void unlink(Fiber* f);
  void lock_live() {
    while (live_lock_.test_and_set(std::memory_order_acquire)) {
    }
  }
  void unlock_live() { live_lock_.clear(std::memory_order_release); }
  std::uint64_t next_id();
  [[gnu::cold]] void check_guard_budget();
  [[noreturn, gnu::cold]] static void throw_stack_too_large(std::size_t asked);
  [[gnu::cold, gnu::noinline]] void fail_to_start(Fiber* f, int rc);
  [[gnu::cold]] void report_deadlock();
  [[gnu::cold]] void watch_for_deadlock();
  [[gnu::cold]] std::string list_parked_fibers();
  Deadline sleep_deadline();
  bool prospects() const;

  // constinit: no lazy-initialisation guard on each access.
  static constinit thread_local Worker* tls_current_;

  // The worker is split by who may touch it. `remote_` holds everything
  // other threads read or write (stealers, the monitor, the blocking pool,
  // plain threads readying fibers), each field with its rule; every other
  // member belongs to the owner thread alone, and checked builds check the
  // owner-only calls (owner_). The local queue (local_queue.h: the owner
  // pushes and pops, anyone steals) and the live list (live_lock_) carry
  // their own rules.
  struct Arrival {
    Fiber* fiber;  // null for a task
    bool announced;
    void (*task)(void*);
    void* arg;
  };
  struct Remote {
    // The next slot: set by the owner only; taken by the owner, an idle
    // worker (steal_next) or the monitor (so taking is an exchange; setting
    // over null is a plain store, as only the owner makes it non-null).
    std::atomic<Fiber*> next{nullptr};
    std::atomic<std::uint64_t> switch_seq{0};    // written by the owner, read by the monitor
    std::atomic<const Fiber*> running{nullptr};  // written by the owner, read by the monitor
    std::atomic<std::uint64_t> stats_stolen{0};  // fibers others stole from us
    std::atomic<std::int64_t> live_balance{0};   // written by the owner only
    std::atomic<bool> quiet{false};              // see idle_without_prospects()
    // Fibers readied by other threads (ready_remote), taken each round.
    std::mutex inbox_mutex;
    Inbox inbox;  // guarded by inbox_mutex
    // Arrivals before it were taken (guarded by inbox_mutex): a bounded take
    // leaves the rest in place rather than moving it down each time.
    std::size_t inbox_head = 0;
    std::atomic<bool> inbox_full{false};
    // Parked fibers waiting on other threads. The owner counts them up; they
    // are counted down where they arrive (the inbox, or the global queue).
    std::atomic<std::size_t> remote_expected{0};
    std::atomic<std::uint64_t> stuck_at{0};  // see mark_stuck(); 0: never
  };
  Remote remote_;

  // ---- owner thread only, from here on ----
  Poller& backend_;  // fixed at construction; other threads call only its wake()
  OwnerThread owner_;  // the thread that runs it (Binding)
  Scheduler& scheduler_;
  std::size_t index_;
  bool multi_;  // more than one worker: shared structures need their locks
  WorkerOptions options_;
  std::size_t default_stack_size_;  // options_.default_stack_size, rounded
  bool guard_budget_limited_;       // the mprotect guard method caps stacks
  alloc::AltStack alt_stack_;
  alloc::StackPool stacks_;
  LocalQueue queue_;
  LocalQueue::Owner runnable_{queue_};
  TimerHeap timers_;
  Fiber home_;
  Fiber* current_ = &home_;
  Fiber* live_ = nullptr;  // fibers created here and not finished; see lock_live()
  std::atomic_flag live_lock_ = ATOMIC_FLAG_INIT;
  std::uint32_t picks_ = 0;  // for the global queue's turn every 61 picks
  // While fire_timers() runs: the fibers the timers ready, in order (the
  // first then runs next, the others are queued behind what is queued).
  bool firing_timers_ = false;
  IntrusiveQueue<Fiber> fired_;
  clockid_t cpu_clock_{};    // the worker thread's CPU-time clock
  pid_t thread_id_ = 0;      // the worker thread's kernel id (gettid)
  bool spinning_ = false;    // chosen by notify_work() and still looking
  // The deadlock watch (watch_for_deadlock): when the current spell of
  // everything parked began, the switch count of all workers then, whether
  // it was said; and how long the next sleep may last (sleep_deadline).
  Deadline quiet_since_{};
  std::uint64_t quiet_switches_ = 0;
  bool quiet_reported_ = false;
  Deadline watch_until_ = kNoDeadline;
  std::uint64_t fp_control_;
  EhGlobals* eh_globals_;
  std::uint64_t rng_;  // victim choice when stealing; shuffling
  std::uint64_t random() {
    rng_ ^= rng_ << 13;
    rng_ ^= rng_ >> 7;
    rng_ ^= rng_ << 17;
    return rng_;
  }
  After after_ = After::nothing;
  Fiber* switched_from_ = nullptr;  // the context the last switch left (after_switch's)
  Commit commit_ = nullptr;
  void* commit_arg_ = nullptr;
  std::size_t round_left_ = 0;
  std::uint64_t id_next_ = 0;
  std::uint64_t id_end_ = 0;
  bool stopping_ = false;
  bool io_ended_ = true;  // quiesce(): every request and blocking call ended
  bool leak_abandoned_stacks_ = false;
  Stats stats_;

};

// Prints "weft: uncaught exception in detached fiber <name> (#id): <what>"
// and aborts. Any thread.
[[noreturn]] void report_detached_error(const Fiber* f);

// Installs the fault handler that names the fiber whose stack overflowed
// (alloc/overflow.h). Workers do it too; a runtime does it when made.
void install_fault_reporting();

// Frees a finished fiber's record and its task's outcome. Any thread.
void free_record(Fiber* f) noexcept;

}  // namespace weft::fibers
