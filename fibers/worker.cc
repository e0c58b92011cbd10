#include <weft/fibers/worker.h>

#include <fcntl.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cxxabi.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>

#include <weft/alloc/heap.h>
#include <weft/faults/faults.h>
#include <weft/fibers/context.h>
#include <weft/fibers/result.h>
#include <weft/fibers/intrusive_fifo.h>

namespace weft::fibers {
namespace {

// Fiber ids are unique in the process. Workers take them in blocks so that
// spawning touches no shared cache line.
std::atomic<std::uint64_t> g_next_id_block{1};
constexpr std::uint64_t kIdBlock = 1024;

// A round lasts for the fibers runnable at its start, and at least this many
// hand-offs: a few fibers yielding to each other need not go home (and poll
// the backend) every few switches. 64 switches take well under a microsecond.
constexpr std::size_t kRoundMinimum = 64;

const char* display_name(const Fiber* f) { return f->name[0] != '\0' ? f->name : "(unnamed)"; }

// The SIGSEGV handler's question (alloc/overflow.h): is this fault in the
// guard below the stack of the fiber running on this thread?
std::size_t describe_fault(const void* address, char* out, std::size_t cap) {
  Worker* w = Worker::current();
  if (w == nullptr) return 0;
  const Fiber* f = w->current_fiber();
  if (f == nullptr || !f->stack) return 0;
  const char* a = static_cast<const char*>(address);
  const char* guard_low = f->stack.base - w->stacks().options().guard_bytes;
  if (a < guard_low || a >= f->stack.base) return 0;
  std::size_t n = 0;
  n = alloc::append_text(out, cap, n, "weft: stack overflow in fiber ");
  n = alloc::append_text(out, cap, n, display_name(f));
  n = alloc::append_text(out, cap, n, " (#");
  n = alloc::append_decimal(out, cap, n, f->id);
  n = alloc::append_text(out, cap, n, "), stack ");
  n = alloc::append_decimal(out, cap, n, f->stack.size >> 10);
  n = alloc::append_text(out, cap, n, " KiB");
  return n;
}

}  // namespace

void report_detached_error(const Fiber* f) {
  std::string what = "an exception that is not a std::exception";
  try {
    std::rethrow_exception(f->task->error);
  } catch (const std::exception& e) {
    what = e.what();
  } catch (...) {
  }
  std::fprintf(stderr, "weft: uncaught exception in detached fiber %s (#%llu): %s\n",
               display_name(f), static_cast<unsigned long long>(f->id), what.c_str());
  std::fflush(stderr);
  std::abort();
}

// ---- records -----------------------------------------------------------------

// The monitor reads a running fiber's name and id from another thread
// (Worker::describe_running). A record it is reading must not be freed: it
// publishes the record here, then checks the worker has not switched since;
// a freeing worker fences, then waits while the record is published. Of the
// two store-then-load sequences one must see the other's store, so either
// the monitor sees the switch and reads nothing, or the free waits.
namespace {
std::atomic<const Fiber*> g_inspected{nullptr};
std::mutex g_inspection;  // one inspecting monitor at a time (several runtimes)
#ifdef WEFT_TSAN
std::atomic<int> g_fence_word{0};
#endif
void full_fence() noexcept {
#ifdef WEFT_TSAN
  g_fence_word.fetch_add(0, std::memory_order_seq_cst);  // TSan rejects a bare fence
#else
  std::atomic_thread_fence(std::memory_order_seq_cst);
#endif
}
}  // namespace

std::chrono::nanoseconds Worker::cpu_time() const {
  timespec ts{};
  if (clock_gettime(cpu_clock_, &ts) != 0) return {};
  return std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec);
}

bool Worker::thread_sleeps_in_kernel() const {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/self/task/%d/stat", static_cast<int>(thread_id_));
  const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char buf[256];
  const ssize_t n = ::read(fd, buf, sizeof buf - 1);
  ::close(fd);
  if (n <= 0) return false;
  buf[n] = '\0';
  // "tid (name) S ...": the state follows the last ')' (a name may hold one).
  const char* close_paren = std::strrchr(buf, ')');
  if (close_paren == nullptr || close_paren[1] != ' ') return false;
  const char state = close_paren[2];
  return state == 'S' || state == 'D';
}

bool Worker::describe_running(std::uint64_t count, RunningFiber& out) const {
  std::lock_guard<std::mutex> lock(g_inspection);
  const Fiber* f = remote_.running.load(std::memory_order_acquire);
  if (f == nullptr) return false;
  g_inspected.store(f, std::memory_order_seq_cst);
  const bool same = remote_.switch_seq.load(std::memory_order_seq_cst) == count;
  if (same) {
    out.id = f->id;
    std::memcpy(out.name, f->name, sizeof out.name);
    out.name[sizeof out.name - 1] = '\0';
  }
  g_inspected.store(nullptr, std::memory_order_release);
  return same;
}

void free_record(Fiber* f) noexcept {
  full_fence();
  while (g_inspected.load(std::memory_order_acquire) == f) __builtin_ia32_pause();
  if (f->task != nullptr) f->task->destroy(f->task);
  f->~Fiber();
  alloc::deallocate(f);
}

void install_fault_reporting() { alloc::install_overflow_handler(&describe_fault); }

// initial-exec: a %fs-relative load, not a call to __tls_get_addr.
__attribute__((tls_model("initial-exec"))) constinit thread_local Worker* Worker::tls_current_ =
    nullptr;

Worker* Worker::current() noexcept { return tls_current_; }

Worker::Binding::Binding(Worker& w) : previous_(tls_current_) {
  tls_current_ = &w;
  // This thread owns the worker and its backend from now on (checked
  // builds check it: fibers/checks.h).
  w.owner_.bind();
  w.backend_.owner.bind();
}
Worker::Binding::~Binding() { tls_current_ = previous_; }

Worker::Worker(Poller& poller, Scheduler& scheduler, std::size_t index,
               const WorkerOptions& options)
    : backend_(poller),
      scheduler_(scheduler),
      index_(index),
      multi_(!scheduler.single()),
      options_(options),
      default_stack_size_(alloc::StackPool::round_size(options.default_stack_size)),
      guard_budget_limited_(alloc::MapCountBudget::instance().stacks_left() != SIZE_MAX),
      stacks_(scheduler.arenas(), options.stacks),
      fp_control_(capture_fp_control()),
      eh_globals_(reinterpret_cast<EhGlobals*>(abi::__cxa_get_globals())),
      rng_(0x9e3779b97f4a7c15ull * (index + 1)) {
  alloc::install_overflow_handler(&describe_fault);
  home_.state = FiberState::running;  // (not a change: home is running from the start)
  std::strcpy(home_.name, "home");
  sanitizer::adopt_thread(home_.san);
  if (pthread_getcpuclockid(pthread_self(), &cpu_clock_) != 0) cpu_clock_ = CLOCK_THREAD_CPUTIME_ID;
  thread_id_ = static_cast<pid_t>(::syscall(SYS_gettid));
  scheduler.attach(index, this);
}

Worker::~Worker() = default;

inline std::uint64_t Worker::next_id() {
  if (id_next_ == id_end_) {
    id_next_ = g_next_id_block.fetch_add(kIdBlock, std::memory_order_relaxed);
    id_end_ = id_next_ + kIdBlock;
  }
  return id_next_++;
}

inline void Worker::link(Fiber* f) {
  if (multi_) lock_live();
  f->listed_on = this;
  link_front<&Fiber::all_prev, &Fiber::all_next>(live_, f);
  if (multi_) unlock_live();
  remote_.live_balance.store(remote_.live_balance.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
}

// The fiber may be listed on another worker (it was made there).
inline void Worker::unlink(Fiber* f) {
  Worker* owner = f->listed_on;
  if (multi_) owner->lock_live();
  fibers::unlink<&Fiber::all_prev, &Fiber::all_next>(owner->live_, f);
  if (multi_) owner->unlock_live();
  remote_.live_balance.store(remote_.live_balance.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
}

Fiber* Worker::create(std::size_t task_size, std::size_t task_align, const SpawnOptions& options,
                      void** task) {
  std::size_t stack_size = default_stack_size_;
  if (options.stack_size != 0) [[unlikely]] {
    stack_size = alloc::StackPool::round_size(options.stack_size);
    if (stack_size == 0) throw_stack_too_large(options.stack_size);
  }
  if (guard_budget_limited_) [[unlikely]]
    check_guard_budget();
  const std::size_t offset =
      (sizeof(Fiber) + task_align - 1) & ~(task_align - 1);  // a power of two
  if (faults::fail(faults::Site::fiber_record) != 0) [[unlikely]]
    alloc::throw_bad_alloc();
  void* block = alloc::allocate(offset + task_size, std::max(alignof(Fiber), task_align));
  Fiber* f = ::new (block) Fiber;
  f->id = next_id();
  f->stack_size = static_cast<std::uint32_t>(stack_size);
  const std::size_t name_len = std::min(options.name.size(), sizeof f->name - 1);
  if (name_len != 0) std::memcpy(f->name, options.name.data(), name_len);
  f->name[name_len] = '\0';
  link(f);
  ++stats_.spawns;
  WEFT_PROBE2(spawn, f->id, f->name);
  if (trace::on()) [[unlikely]]
    trace::spawn(f);
  *task = static_cast<char*>(block) + offset;
  return f;
}

void Worker::throw_stack_too_large(std::size_t asked) {
  throw std::system_error(errno_error(EINVAL), "weft::spawn: stack_size " + std::to_string(asked) +
                                                   " is above the 8 MiB limit");
}

// Under the mprotect guard method every live fiber may need a slot, and
// slots are bounded by vm.max_map_count: refuse here, with the reason, rather
// than fail later when the fiber first runs.
void Worker::check_guard_budget() {
  auto& budget = alloc::MapCountBudget::instance();
  const auto live = static_cast<std::uint64_t>(std::max<std::int64_t>(0, scheduler_.live_fibers()));
  if (live >= stacks_.stats().slots_created + budget.stacks_left()) {
    throw std::system_error(errno_error(EAGAIN), "weft::spawn: " + budget.describe());
  }
}

void Worker::launch(Fiber* fiber, TaskBase* task) {
  fiber->task = task;  // (runnable since Worker::create made the record)
  enqueue(fiber);
}

// Queues a runnable fiber here; with several workers, lets an idle one know.
inline void Worker::enqueue(Fiber* fiber) {
  if (!runnable_.push(fiber)) [[unlikely]] {
    overflow(fiber);
    return;
  }
  if (multi_) scheduler_.notify_work();
}

// A fiber that was to run soon (the next slot's, at the end of its round or
// displaced from it; one a timer readied): queued here even when the local
// queue is full, its older half going to the global queue instead. Sent
// there itself, it would wait behind everything in the global queue: with
// thousands of fibers yielding, tens of milliseconds.
inline void Worker::enqueue_here(Fiber* fiber) {
  if (!runnable_.push(fiber)) [[unlikely]] {
    make_room(fiber);
    return;
  }
  if (multi_) scheduler_.notify_work();
}

void Worker::make_room(Fiber* fiber) {
  ++stats_.kept_local;
  Fiber* first = nullptr;
  Fiber* last = nullptr;
  if (const std::uint32_t n = runnable_.take_half(&first, &last); n != 0) {
    ++stats_.overflows;
    scheduler_.push_global(first, last, n);
  }
  if (!runnable_.push(fiber)) {
    overflow(fiber);  // not expected: half a full queue just left
    return;
  }
  if (multi_) scheduler_.notify_work();
}

// The local queue is full: half of it, and `fiber`, go to the global queue.
void Worker::overflow(Fiber* fiber) {
  ++stats_.overflows;
  Fiber* first = nullptr;
  Fiber* last = nullptr;
  std::uint32_t n = runnable_.take_half(&first, &last);
  if (n == 0) {
    first = last = fiber;
  } else {
    last->next = fiber;
    last = fiber;
  }
  scheduler_.push_global(first, last, n + 1);
}

void Worker::discard(Fiber* fiber) noexcept {
  unlink(fiber);
  fiber->task = nullptr;
  free_record(fiber);
}

// ---- the loop -------------------------------------------------------------------

void Worker::run() {
  while (!scheduler_.stopping()) round();
}

void Worker::round() {
  ++stats_.rounds;
  // The next slot lasts one round: a pair of fibers handing off to each
  // other must not keep the rest of the queue waiting.
  if (Fiber* f = take_next()) enqueue_here(f);
  if (remote_.inbox_full.load(std::memory_order_acquire)) take_inbox_share();
  bool runnable = !runnable_.empty();
  if (!runnable && remote_.inbox_full.load(std::memory_order_acquire)) {
    // Arrivals left over from a bounded take (tasks that readied nothing
    // yet): no sleep, the next round takes more.
  } else if (runnable) {
    // Fairness: the global queue gets a share every round, whatever runs
    // here. A fiber yielding in a loop keeps the local queue non-empty, and
    // the fibers that overflowed into the global queue must not wait for it
    // to stop (on a lone worker nobody else would ever take them).
    if (!scheduler_.global_empty()) take_global_share();
  } else {
    if (find_work()) {
      runnable = true;
    } else if (scheduler_.single()) {
      if (!prospects()) watch_for_deadlock();
      if (scheduler_.stopping()) return;
    } else {
      sleep_until_work();  // returns after blocking; the next round looks again
      return;
    }
  }
  const bool block = !runnable && !remote_.inbox_full.load(std::memory_order_acquire);
  if (block && stacks_.has_unchecked()) stacks_.sweep();  // about to sleep
  poll(block);
  // A thread that readied a fiber after the check above also woke the poll.
  take_arrivals();
  if (spinning_) {
    spinning_ = false;
    scheduler_.done_spinning();
    if (!runnable_.empty()) scheduler_.notify_work();  // there may be more: chain
  }
  round_left_ = std::max<std::size_t>(runnable_.size(), kRoundMinimum);
  Fiber* next = pick_next();
  if (next != &home_) switch_to(next);
}

// The local queue is empty: the global queue, then the others' queues.
bool Worker::find_work() { return take_global_share() || (multi_ && steal()); }

// Moves this worker's share of the global queue (an even split between the
// workers, at most half a local queue, never more than the local queue has
// room for) to the tail of the local queue. Owner only.
bool Worker::take_global_share() {
  const std::uint32_t room = LocalQueue::kCapacity - runnable_.size();
  const std::uint32_t share = std::min<std::uint32_t>(
      {LocalQueue::kCapacity / 2, room,
       scheduler_.global_size() / static_cast<std::uint32_t>(scheduler_.size()) + 1});
  std::uint32_t n = 0;
  Fiber* f = share == 0 ? nullptr : scheduler_.take_global(share, &n);
  if (f == nullptr) return false;
  while (f != nullptr) {
    Fiber* next = f->next;
    runnable_.push(f);  // room: at most `room` were taken
    f = next;
  }
  return true;
}

bool Worker::steal() {
  const std::size_t n = scheduler_.size();
  const std::size_t start = static_cast<std::size_t>(random() % n);
  for (std::size_t i = 0; i < n; ++i) {
    Worker* victim = scheduler_.worker((start + i) % n);
    if (victim == nullptr || victim == this) continue;
    LocalQueue::Stealer from(victim->queue_);
    if (const std::uint32_t got = from.steal_into(runnable_); got != 0) {
      count_steal(victim, got);
      return true;
    }
  }
  return steal_next(start);
}

// What every steal does once it has its fibers: counts them on both sides
// and tells the probes and the trace.
void Worker::count_steal(Worker* victim, std::uint32_t got) {
  ++stats_.steals;
  victim->remote_.stats_stolen.fetch_add(got, std::memory_order_relaxed);
  stats_.stolen_in += got;
  WEFT_PROBE3(steal, index_, victim->index_, got);
  if (trace::on()) [[unlikely]]
    trace::steal(victim->index_, got);
}

// Nothing in any queue: take a fiber waiting in another worker's next slot,
// if that worker stays on the same fiber for a few microseconds (it keeps
// running after waking the fiber, so the fiber would wait). A worker that
// switches soon runs its next fiber itself: ping-pong pairs stay together.
bool Worker::steal_next(std::size_t start) {
  constexpr auto kGrace = std::chrono::microseconds(3);
  const std::size_t n = scheduler_.size();
  for (std::size_t i = 0; i < n; ++i) {
    Worker* victim = scheduler_.worker((start + i) % n);
    if (victim == nullptr || victim == this) continue;
    if (victim->remote_.next.load(std::memory_order_relaxed) == nullptr) continue;
    const std::uint64_t count = victim->switch_count();
    const Deadline until = Clock::now() + kGrace;
    while (Clock::now() < until) __builtin_ia32_pause();
    if (victim->switch_count() != count) continue;
    if (Fiber* f = victim->take_next_slot()) {
      runnable_.push(f);  // room: our queue is empty
      count_steal(victim, 1);
      return true;
    }
  }
  return false;
}

// Spinning (see scheduler.h, step 4): looks for work until idle_spin
// passes, pausing between looks so as not to keep the victims' queue lines
// bouncing. Found: true, still spinning (round() stops and chains).
bool Worker::spin_for_work() {
  ++stats_.idle_spins;
  const Deadline until = Clock::now() + options_.idle_spin;
  do {
    if (scheduler_.stopping() || remote_.inbox_full.load(std::memory_order_acquire) ||
        backend_.has_completions() ||
        (!timers_.empty() && timers_.next_deadline() <= Clock::now()) || find_work()) {
      ++stats_.idle_spin_hits;
      return true;
    }
    for (int i = 0; i < 32; ++i) __builtin_ia32_pause();
  } while (Clock::now() < until);
  return false;
}

bool Worker::anything_queued_anywhere() const {
  if (!scheduler_.global_empty() || remote_.inbox_full.load(std::memory_order_acquire)) return true;
  for (std::size_t i = 0; i < scheduler_.size(); ++i) {
    const Worker* w = scheduler_.worker(i);
    if (w != nullptr && !w->queue_.empty()) return true;
  }
  return false;
}

// Nothing to run anywhere: sleep in the backend until woken (see "Parking
// and waking" in scheduler.h).
void Worker::sleep_until_work() {
  if (!spinning_ && options_.idle_spin.count() > 0) spinning_ = scheduler_.try_spin();
  if (spinning_ && spin_for_work()) {
    // A fiber: the next round runs it, then chains. Anything else (a
    // completion, an arrival, a timer) is taken in here: the next round
    // polls only if it has something to run.
    if (runnable_.empty()) {
      backend_.poll(false, kNoDeadline, stats_);
      take_arrivals();
    }
    return;
  }
  if (spinning_) {
    spinning_ = false;
    scheduler_.done_spinning();
  }
  remote_.quiet.store(!prospects(), std::memory_order_release);
  scheduler_.go_idle(this);
  if (anything_queued_anywhere() || scheduler_.stopping()) {
    remote_.quiet.store(false, std::memory_order_relaxed);
    spinning_ = scheduler_.leave_idle(this);
    return;
  }
  if ((options_.detect_deadlock || options_.deadlock_report.count() > 0) &&
      scheduler_.idle_count() == static_cast<int>(scheduler_.size())) {
    bool all_quiet = true;
    for (std::size_t i = 0; i < scheduler_.size(); ++i) {
      all_quiet &= scheduler_.worker(i)->idle_without_prospects();
    }
    if (all_quiet && !anything_queued_anywhere()) {
      if (options_.detect_deadlock) {
        remote_.quiet.store(false, std::memory_order_relaxed);
        scheduler_.leave_idle(this);
        report_deadlock();
        return;
      }
      watch_for_deadlock();
    }
  }
  if (stacks_.has_unchecked()) stacks_.sweep();
  ++stats_.parks_worker;
  poll(true);
  remote_.quiet.store(false, std::memory_order_relaxed);
  spinning_ = scheduler_.leave_idle(this);
  take_arrivals();
}

// Polls the backend, sleeping until the next timer when `block`.
inline void Worker::poll(bool block) {
  backend_.room = LocalQueue::kCapacity - runnable_.size();
  if (trace::on()) [[unlikely]] {
    poll_traced(block);
    return;
  }
  backend_.poll(block, sleep_deadline(), stats_);
}

// The next timer's deadline, or sooner if the deadlock watch wants to look
// again (the limit lasts one sleep).
inline Deadline Worker::sleep_deadline() {
  const Deadline next = timers_.next_deadline();
  if (watch_until_ == kNoDeadline) [[likely]]
    return next;
  const Deadline until = std::min(next, watch_until_);
  watch_until_ = kNoDeadline;
  return until;
}

// A poll with the time it may sleep marked "idle" in the trace.
void Worker::poll_traced(bool block) {
  if (block) trace::idle(true);
  backend_.poll(block, sleep_deadline(), stats_);
  if (block) trace::idle(false);
}

// After a poll: fibers other threads readied through the inbox, and timers
// that came due.
void Worker::take_arrivals() {
  if (remote_.inbox_full.load(std::memory_order_acquire)) take_inbox_share();
  if (!timers_.empty()) fire_timers();
}

// Fires the timers that are due. The first fiber they ready takes the next
// slot, from the home context too, as Go puts a goroutine its timer woke in
// runnext (a timer must not wait behind a full run queue, or in the global
// queue); the others follow it in the order their timers fired.
void Worker::fire_timers() {
  firing_timers_ = true;
  stats_.timers_fired += timers_.fire_expired(Clock::now());
  firing_timers_ = false;
  if (Fiber* first = fired_.pop_front()) {
    if (!options_.shuffle) {
      put_next(first);
    } else {
      enqueue(first);
    }
    while (Fiber* f = fired_.pop_front()) enqueue_here(f);
  }
}

// The wake happens under the inbox lock: once the worker can take the
// arrival, it may run on, stop and be destroyed, so nothing here may touch
// it after the lock is released.
void Worker::ready_remote(Fiber* fiber, bool announced) {
  if (WEFT_PROBE_ENABLED(wake)) [[unlikely]]
    probes::wake(fiber->id);
  if (trace::on()) [[unlikely]]
    trace::wake(fiber, &scheduler_);
  // Still on the fiber the monitor found it stuck on? Then a fiber back
  // from the blocking pool (parked here before that fiber began its run)
  // waits in the global queue instead, where another worker takes it: the
  // inbox would keep it until the busy fiber yields. Only announced ones:
  // the runtime cannot stop before their count comes down, last, so the
  // scheduler is still there while this thread pushes and notifies; a
  // plain thread's wake-up has no such guarantee and takes the inbox.
  const std::uint64_t stuck = remote_.stuck_at.load(std::memory_order_acquire);
  if (announced && stuck != 0 && switch_count() == stuck - 1 &&
      scheduler_.ready_global(fiber)) {
    remote_.remote_expected.fetch_sub(1, std::memory_order_release);
    return;
  }
  deliver({fiber, announced, nullptr, nullptr});
}

// Any thread: into the inbox, and the worker woken to take it.
void Worker::deliver(const Arrival& a) {
  std::lock_guard<std::mutex> lock(remote_.inbox_mutex);
  remote_.inbox.push_back(a);
  remote_.inbox_full.store(true, std::memory_order_release);
  backend_.wake();
}

std::size_t Worker::rescue_arrivals() {
  if (!timers_.empty() && timers_.next_deadline() <= Clock::now()) {
    timers_.fire_expired_elsewhere(Clock::now(), kRoundMinimum);
  }
  if (!remote_.inbox_full.load(std::memory_order_acquire)) return 0;
  Fiber* first = nullptr;
  Fiber* last = nullptr;
  std::uint32_t n = 0;
  std::size_t announced = 0;
  {
    std::lock_guard<std::mutex> lock(remote_.inbox_mutex);
    if (scheduler_.stopping()) return 0;
    remote_.inbox.erase(remote_.inbox.begin(),
                        remote_.inbox.begin() + static_cast<std::ptrdiff_t>(remote_.inbox_head));
    remote_.inbox_head = 0;
    auto kept = remote_.inbox.begin();
    for (const Arrival& a : remote_.inbox) {
      if (a.fiber == nullptr) {
        *kept++ = a;  // a task: the owner's home context runs it
        continue;
      }
      announced += a.announced ? 1 : 0;
      a.fiber->become(FiberState::runnable);
      a.fiber->next = nullptr;
      (last != nullptr ? last->next : first) = a.fiber;
      last = a.fiber;
      ++n;
    }
    remote_.inbox.erase(kept, remote_.inbox.end());
    remote_.inbox_full.store(!remote_.inbox.empty(), std::memory_order_release);
  }
  if (n == 0) return 0;
  scheduler_.push_global_front(first, last, n);
  // Counted down where they arrive (see remote_.remote_expected): in the queue now.
  if (announced != 0) remote_.remote_expected.fetch_sub(announced, std::memory_order_release);
  return n;
}

void Worker::post(void (*fn)(void* arg), void* arg) {
  deliver({nullptr, false, fn, arg});
}

// Takes everything delivered so far, leaving the inbox empty.
Worker::Inbox Worker::empty_inbox() {
  Inbox arrived;
  std::lock_guard<std::mutex> lock(remote_.inbox_mutex);
  remote_.inbox.erase(remote_.inbox.begin(),
                      remote_.inbox.begin() + static_cast<std::ptrdiff_t>(remote_.inbox_head));
  remote_.inbox_head = 0;
  arrived.swap(remote_.inbox);
  remote_.inbox_full.store(false, std::memory_order_relaxed);
  return arrived;
}

// Copies out up to `most` of the oldest arrivals. The inbox keeps its
// storage: emptied, it is cleared (no allocation for the next delivery);
// with more left than was taken, the taken front is dropped once it is the
// larger part (each arrival moves at most once on average).
std::size_t Worker::take_inbox_batch(Arrival* batch, std::size_t most) {
  std::lock_guard<std::mutex> lock(remote_.inbox_mutex);
  Inbox& inbox = remote_.inbox;
  std::size_t& head = remote_.inbox_head;
  const std::size_t n = std::min(most, inbox.size() - head);
  std::copy_n(inbox.begin() + static_cast<std::ptrdiff_t>(head), n, batch);
  head += n;
  if (head == inbox.size()) {
    inbox.clear();
    head = 0;
  } else if (head >= kInboxBatch && head * 2 >= inbox.size()) {
    inbox.erase(inbox.begin(), inbox.begin() + static_cast<std::ptrdiff_t>(head));
    head = 0;
  }
  remote_.inbox_full.store(!inbox.empty(), std::memory_order_relaxed);
  return n;
}

void Worker::take_inbox(std::size_t limit) {
  Arrival batch[kInboxBatch];
  while (limit > 0) {
    const std::size_t n = take_inbox_batch(batch, std::min(limit, kInboxBatch));
    for (std::size_t i = 0; i < n; ++i) {
      const Arrival& a = batch[i];
      if (a.task != nullptr) {
        a.task(a.arg);
        continue;
      }
      if (a.announced) remote_.remote_expected.fetch_sub(1, std::memory_order_relaxed);
      ready(a.fiber);
    }
    if (n < kInboxBatch) return;  // the inbox was emptied
    limit -= n;
  }
}

// A round's share: half the room left in the local queue, at least a few
// (a full queue must not stop arrivals altogether).
void Worker::take_inbox_share() {
  const std::size_t room = LocalQueue::kCapacity - runnable_.size();
  take_inbox(std::clamp<std::size_t>(room / 2, 8, kInboxBatch * 2));
}

bool Worker::prospects() const {
  return !timers_.empty() || backend_.busy() || !remote_settled();
}

void Worker::report_deadlock() {
  scheduler_.report_deadlock("weft: deadlock: every fiber is parked (" +
                             std::to_string(scheduler_.live_fibers()) +
                             " alive) and no timer, I/O operation or other fiber can wake them\n" +
                             list_parked_fibers());
}

// Every fiber parked and nothing in the runtime able to wake one: the
// worker that saw it last (all others asleep) watches the spell. A spell is
// a run of such sightings with no switch on any worker in between; once it
// has lasted options_.deadlock_report it is said on stderr, once.
void Worker::watch_for_deadlock() {
  if (options_.detect_deadlock) {
    report_deadlock();
    return;
  }
  if (options_.deadlock_report.count() <= 0) return;
  std::uint64_t switches = 0;
  for (std::size_t i = 0; i < scheduler_.size(); ++i) switches += scheduler_.worker(i)->switch_count();
  const Deadline now = Clock::now();
  if (quiet_since_ == Deadline{} || switches != quiet_switches_) {
    quiet_since_ = now;  // a new spell
    quiet_switches_ = switches;
    quiet_reported_ = false;
  }
  if (quiet_reported_) return;
  const Deadline due = quiet_since_ + options_.deadlock_report;
  if (now < due) {
    watch_until_ = due;  // look again then
    return;
  }
  quiet_reported_ = true;
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now - quiet_since_).count();
  const std::string report =
      "weft: every fiber has been parked for " + std::to_string(ms) + " ms (" +
      std::to_string(scheduler_.live_fibers()) +
      " alive) and no timer, I/O operation or blocking call can wake one: a deadlock, unless a thread "
      "outside the runtime will wake one\n" +
      list_parked_fibers() +
      "  (RuntimeOptions::detect_deadlock makes run() throw this instead; deadlock_report = 0 or "
      "WEFT_DEADLOCK_REPORT_MS=0 silences it)\n";
  std::fputs(report.c_str(), stderr);
}

// One line per live fiber ("  #7 'name' parked in weft::Mutex::lock
// (0x...)"), at most kListed of them, for a deadlock report. Called while
// every worker sleeps: a fiber's state and wait site are read as they were
// left (a plain thread waking one meanwhile may make a line stale).
std::string Worker::list_parked_fibers() {
  constexpr std::size_t kListed = 32;
  std::string out;
  std::size_t listed = 0;
  std::size_t more = 0;
  for (std::size_t i = 0; i < scheduler_.size(); ++i) {
    Worker* w = scheduler_.worker(i);
    if (w == nullptr) continue;
    if (multi_) w->lock_live();
    for (Fiber* f = w->live_; f != nullptr; f = f->all_next) {
      if (listed == kListed) {
        ++more;
        continue;
      }
      ++listed;
      out += "  #" + std::to_string(f->id) + " '" + f->name + "' " + state_name(f->state);
      if (f->state == FiberState::parked && f->waits_in.what != nullptr) {
        out += " in ";
        out += f->waits_in.what;
        if (f->waits_in.object != nullptr) {
          char addr[32];
          std::snprintf(addr, sizeof addr, " (%p)", f->waits_in.object);
          out += addr;
        }
      }
      out += '\n';
    }
    if (multi_) w->unlock_live();
  }
  if (more != 0) out += "  ... and " + std::to_string(more) + " more\n";
  return out;
}

inline Fiber* Worker::pick_next() {
  // The common hand-off on a lone worker (no global queue to give a turn):
  // the fiber just readied, from the next slot, without the loop below.
  if (!multi_ && round_left_ > 0) {
    if (Fiber* f = take_next()) {
      --round_left_;
      if (prepare(f)) return f;
    }
  }
  return pick_next_any();
}

Fiber* Worker::pick_next_any() {
  while (round_left_ > 0) {
    Fiber* f = nullptr;
    // Every 61st pick the global queue goes first, so it cannot starve
    // within a long round either (one worker or several).
    if (++picks_ % 61 == 0 && !scheduler_.global_empty()) {
      std::uint32_t n = 0;
      f = scheduler_.take_global(1, &n);
    }
    if (f == nullptr) f = take_next();
    if (f == nullptr && options_.shuffle) [[unlikely]] {
      for (std::uint64_t k = random() % 4; k > 0; --k) {
        Fiber* moved = runnable_.pop();
        if (moved == nullptr) break;
        runnable_.push(moved);  // room: one was just popped
      }
    }
    if (f == nullptr) f = runnable_.pop();
    if (f == nullptr) break;
    --round_left_;
    if (prepare(f)) return f;
  }
  return &home_;
}

// Gives a fiber that has never run its stack and first frame. A fiber that
// cannot get a stack finishes at once with the error as its exception.
inline bool Worker::prepare(Fiber* f) {
  if (f->sp != nullptr) return true;
  if (const int rc = stacks_.acquire(f->stack_size, &f->stack); rc != 0) [[unlikely]] {
    fail_to_start(f, rc);
    return false;
  }
  f->lowest_sp = f->stack.top();
  sanitizer::create(f->san, f->stack.base, f->stack.size);
  f->sp = make_initial_frame(f->stack.top(), &Worker::fiber_main, f, fp_control_);
  return true;
}

void Worker::fail_to_start(Fiber* f, int rc) {
  std::string why = "weft: no stack for fiber " + std::string(display_name(f));
  if (rc == -EAGAIN) why += ": " + alloc::MapCountBudget::instance().describe();
  f->task->error = std::make_exception_ptr(std::system_error(errno_error(-rc), why));
  f->become(FiberState::finished);
  complete(f);
}

void Worker::switch_to(Fiber* next) {
  Fiber* self = current_;
  const void* sp = __builtin_frame_address(0);
  if (sp < self->lowest_sp) self->lowest_sp = sp;
  current_ = next;
  if (next != &home_) next->become(FiberState::running);  // (home's state never changes)
  remote_.running.store(next == &home_ ? nullptr : next, std::memory_order_release);
  remote_.switch_seq.store(remote_.switch_seq.load(std::memory_order_relaxed) + 1, std::memory_order_release);
  self->eh = *eh_globals_;
  *eh_globals_ = next->eh;
  sanitizer::before_switch(self->san, next->san, after_ == After::finish);
  switched_from_ = self;
  if (WEFT_PROBE_ENABLED(switch)) [[unlikely]]
    probes::context_switch(self->id, next->id);
  if (trace::on()) [[unlikely]]
    trace::run(next, next == &home_);
  // The switch hands the resumed side the worker it now runs on (it may be
  // another one than it parked on): code after a switch must not trust
  // anything cached from before it.
  auto* w = static_cast<Worker*>(weft_context_switch_ret(&self->sp, next->sp, this));
  Fiber* previous = w->switched_from_;
  sanitizer::after_switch(self->san, &previous->san);
  w->after_switch(previous);
}

void Worker::fiber_main(void* arg, void* from) {
  auto* self = static_cast<Fiber*>(arg);
  auto* w = static_cast<Worker*>(from);
  Fiber* previous = w->switched_from_;
  sanitizer::after_switch(self->san, &previous->san);
  w->after_switch(previous);
  self->task->run(self->task);
  current()->finish_current();
}

inline void Worker::after_switch(Fiber* previous) {
  const After what = after_;
  if (what == After::nothing) return;
  after_ = After::nothing;
  if (what == After::park) [[likely]] {  // the hand-off of every wait: kept small
    if (commit_ != nullptr && !commit_(previous, commit_arg_)) ready(previous);
    return;
  }
  after_switch_rest(previous, what);
}

void Worker::after_switch_rest(Fiber* previous, After what) {
  if (what == After::requeue) {
    // A yield: last in line, behind every runnable fiber. While fibers wait
    // in the global queue, that is its back (as Go's Gosched): the local
    // queue then drains into the rounds and is refilled from the global
    // queue's front, one FIFO over all of them. Requeued here instead, the
    // yielders kept the local queue full: what waited in the global queue
    // got only every 61st pick, and each overflow sent the older half of
    // the local queue, the fibers about to run, to the back of the global
    // one (a timer's fiber could bounce between the two for tens of ms).
    if (!scheduler_.global_empty() || !runnable_.push(previous)) [[unlikely]] {
      ++stats_.yields_to_global;
      scheduler_.push_global(previous);
      return;
    }
    if (multi_) scheduler_.notify_work();
    return;
  }
  stacks_.release(previous->stack, previous->lowest_sp);  // After::finish
  previous->stack = {};
  sanitizer::destroy(previous->san);
  complete(previous);
}

// A finished fiber whose stack is gone: publish that, and free the record or
// wake the joiner.
void Worker::complete(Fiber* f) {
  unlink(f);
  // Publish "finished" before asking whether f is the main fiber: the
  // runtime publishes main before asking whether it already finished
  // (Scheduler::watch_main), so one of the two sees the other.
  const std::uintptr_t prev = f->join_state.exchange(kJoinFinished, std::memory_order_seq_cst);
  if (scheduler_.is_main(f)) scheduler_.begin_stop();
  if (prev == kJoinDetached) {
    if (f->task->error && !f->abandoned) report_detached_error(f);
    free_record(f);
  } else if ((prev & kJoinHookTag) != 0) {
    const bool abandoned = f->abandoned;
    free_record(f);
    auto* hook = reinterpret_cast<FinishHook*>(prev & ~kJoinHookTag);
    if (!abandoned && !stopping_) hook->run(hook);
  } else if (prev != kJoinNone && !stopping_) {
    ready(reinterpret_cast<Fiber*>(prev));
  }
}

void Worker::finish_current() {
  current_fiber()->become(FiberState::finished);
  after_ = After::finish;
  switch_to(pick_next());
  std::fprintf(stderr, "weft: internal error: a finished fiber was resumed\n");
  std::abort();
}

void Worker::ready_slow(Fiber* fiber, bool next) {
  owner_.check("Worker", "ready");
  if (stopping_) return;
  count_ready(fiber);
  if (firing_timers_) {
    fired_.push_back(fiber);  // fire_timers() places it
    return;
  }
  if (!next || !on_fiber() || (options_.shuffle && random() % 2 == 0)) {
    enqueue(fiber);
    return;
  }
  put_next(fiber);
}

// Into the next slot; what was there is queued.
void Worker::put_next(Fiber* fiber) {
  Fiber* displaced = remote_.next.load(std::memory_order_relaxed);
  if (displaced == nullptr) {
    remote_.next.store(fiber, std::memory_order_release);
  } else if ((displaced = remote_.next.exchange(fiber, std::memory_order_acq_rel)) != nullptr) {
    enqueue_here(displaced);
    return;  // enqueue told the idle workers
  }
  // An idle worker takes the slot if this one keeps running (steal_next).
  if (multi_) scheduler_.notify_work();
}

// The next slot's fiber, if any (owner only).
inline Fiber* Worker::take_next() {
  Fiber* f = remote_.next.load(std::memory_order_relaxed);
  if (f == nullptr) return nullptr;
  if (!multi_) {
    // Alone: no idle worker steals the slot, and the monitor rescues
    // nothing with one worker, so no one else takes it.
    remote_.next.store(nullptr, std::memory_order_relaxed);
    return f;
  }
  return remote_.next.exchange(nullptr, std::memory_order_acq_rel);
}

void Worker::yield() {
  owner_.check("Worker", "yield");
  ++stats_.yields;
  // Every 4th yield, timers that came due fire within the round (a round
  // of many runnable fibers is long) and what they ready runs next. Here,
  // on the yielding fiber's stack, no timer can be this fiber's own (it
  // waits for nothing); a park or a finish leaves them to the round's end.
  // Only while the round has picks left: the next round would queue the
  // next slot behind everything (and then fires them first itself).
  if ((stats_.yields & 3) == 0 && round_left_ > 0 && !timers_.empty() &&
      timers_.next_deadline() <= Clock::now()) {
    fire_timers();
  }
  Fiber* self = current_fiber();
  // Depth is otherwise noted at switches, and this yield may not switch.
  const void* sp = __builtin_frame_address(0);
  if (sp < self->lowest_sp) self->lowest_sp = sp;
  if (runnable_.empty() && remote_.next.load(std::memory_order_relaxed) == nullptr && round_left_ > 0) {
    // Nothing else to run here: go on, but the round still ends in time.
    --round_left_;
    return;
  }
  Fiber* next = pick_next();
  // The next context queues us (After::requeue). Queuing ourselves here
  // would let another worker steal and run this fiber while it still runs
  // on this thread.
  self->become(FiberState::runnable);
  after_ = After::requeue;
  switch_to(next);
}

void Worker::park(WaitSite where, Commit commit, void* arg) {
  owner_.check("Worker", "park");
  ++stats_.parks;
  if (WEFT_PROBE_ENABLED(park)) [[unlikely]]
    probes::park(current_->id, current_->name);
  Fiber* self = current_fiber();
  self->waits_in = where;
  self->become(FiberState::parked);
  after_ = After::park;
  commit_ = commit;
  commit_arg_ = arg;
  switch_to(pick_next());
}

// ---- stopping -------------------------------------------------------------------

void Worker::stop(bool leader) {
  quiesce();
  scheduler_.stop_barrier();  // every worker quiet: no fiber runs anywhere
  take_inbox();
  scheduler_.stop_barrier();  // every posted task ran
  if (leader) abandon_all();
  scheduler_.stop_barrier();  // no fiber left
  drain();
}

void Worker::quiesce() {
  stopping_ = true;
  // No request, and no helper thread, may still write into a fiber's memory.
  io_ended_ = backend_.cancel_all(stats_) && wait_for_remote();
}

void Worker::abandon_all() {
  bool io_ended = true;
  for (std::size_t i = 0; i < scheduler_.size(); ++i) {
    Worker* w = scheduler_.worker(i);
    io_ended &= w->io_ended_;
    while (w->runnable_.pop() != nullptr) {
    }
    w->remote_.next.store(nullptr, std::memory_order_relaxed);
  }
  std::uint32_t n = 0;
  while (scheduler_.take_global(LocalQueue::kCapacity, &n) != nullptr) {
  }
  // Detach every parked fiber from what it waits on, while its stack (where
  // the wait's bookkeeping lives) is intact: events and tokens that outlive
  // the run must not point into recycled stacks.
  for (std::size_t i = 0; i < scheduler_.size(); ++i) {
    for (Fiber* f = scheduler_.worker(i)->live_; f != nullptr; f = f->all_next) {
      if (AbandonHook* hook = std::exchange(f->abandon_hook, nullptr)) hook->run(hook);
    }
  }
  for (std::size_t i = 0; i < scheduler_.size(); ++i) scheduler_.worker(i)->timers_.clear();
  // Free them. Destroying a detached fiber's captures may close sockets in
  // the background; drain() hands those closes to the kernel.
  if (!io_ended) {
    // A request that would not end may still write into abandoned stacks:
    // never reuse them, and never unmap the arenas they live in.
    leak_abandoned_stacks_ = true;
    stacks_.keep_mapped();
  }
  for (std::size_t i = 0; i < scheduler_.size(); ++i) {
    Worker* w = scheduler_.worker(i);
    while (w->live_ != nullptr) abandon(w->live_);
  }
  leak_abandoned_stacks_ = false;
}

void Worker::drain() {
  // Fibers in the inbox are gone (abandoned); tasks still run.
  const Inbox arrived = empty_inbox();
  for (const Arrival& a : arrived) {
    if (a.task != nullptr) a.task(a.arg);
  }
  backend_.drain(stats_);
  stopping_ = false;
}

// Waits (a few seconds at most) until every fiber that waits on another
// thread has been handed back.
bool Worker::wait_for_remote() {
  if (remote_settled()) return true;
  const auto limit = static_cast<long long>(options_.exit_wait.count());
  const auto pending = [this] { return remote_.remote_expected.load(std::memory_order_acquire); };
  std::fprintf(stderr,
               "weft: the run is ending; worker %zu waits up to %lld ms for %zu blocking call(s) still "
               "running (RuntimeOptions::exit_wait)\n",
               index_, limit, pending());
  const Deadline give_up = Clock::now() + options_.exit_wait;
  while (!remote_settled() && Clock::now() < give_up) {
    backend_.poll(true, std::min(give_up, Clock::now() + std::chrono::milliseconds(50)), stats_);
    take_inbox();
  }
  if (remote_settled()) return true;
  std::fprintf(stderr,
               "weft: worker %zu: %zu blocking call(s) still running after %lld ms: their fibers are "
               "abandoned and their stacks kept\n",
               index_, pending(), limit);
  return false;
}

void Worker::abandon(Fiber* f) {
  if (f->stack) {
    // Trim it (its frames are garbage now), unless the kernel may still
    // write into it: then it is left out of the pool for good.
    if (!leak_abandoned_stacks_) stacks_.release(f->stack, f->stack.base);
    f->stack = {};
    sanitizer::destroy(f->san);
  }
  f->abandoned = true;
  f->become(FiberState::finished);
  if (!f->task->error) {
    f->task->error = std::make_exception_ptr(std::system_error(
        errno_error(ECANCELED),
        "weft: the runtime stopped before fiber " + std::string(display_name(f)) + " finished"));
  }
  complete(f);
}

Stats Worker::snapshot() const {
  Stats s = stats_;
  s.switches = remote_.switch_seq.load(std::memory_order_relaxed);
  s.fibers_live = static_cast<std::uint64_t>(live_balance());
  s.stolen_out = remote_.stats_stolen.load(std::memory_order_relaxed);
  const alloc::StackPoolStats pool = stacks_.stats();
  s.stack_slots = pool.slots_created;
  s.stack_trims = pool.trims;
  s.stack_pages_committed = pool.pages_committed;
  s.stack_pages_trimmed = pool.pages_trimmed;
  s.stack_checks = pool.checks;
  return s;
}

}  // namespace weft::fibers
