#include <weft/fibers/worker.h>

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
#include <weft/fibers/context.h>
#include <weft/fibers/result.h>

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

void free_record(Fiber* f) noexcept {
  if (f->task != nullptr) f->task->destroy(f->task);
  f->~Fiber();
  alloc::deallocate(f);
}

constinit thread_local Worker* Worker::tls_current_ = nullptr;

Worker::Binding::Binding(Worker& w) : previous_(tls_current_) { tls_current_ = &w; }
Worker::Binding::~Binding() { tls_current_ = previous_; }

Worker::Worker(Poller& poller, const WorkerOptions& options)
    : poller_(poller),
      options_(options),
      default_stack_size_(alloc::StackPool::round_size(options.default_stack_size)),
      guard_budget_limited_(alloc::MapCountBudget::instance().stacks_left() != SIZE_MAX),
      stacks_(options.stacks),
      fp_control_(capture_fp_control()),
      eh_globals_(reinterpret_cast<EhGlobals*>(abi::__cxa_get_globals())) {
  alloc::install_overflow_handler(&describe_fault);
  home_.state = FiberState::running;
  std::strcpy(home_.name, "home");
  sanitizer::adopt_thread(home_.san);
}

Worker::~Worker() {
  if (live_ != nullptr) stop();
}

inline std::uint64_t Worker::next_id() {
  if (id_next_ == id_end_) {
    id_next_ = g_next_id_block.fetch_add(kIdBlock, std::memory_order_relaxed);
    id_end_ = id_next_ + kIdBlock;
  }
  return id_next_++;
}

inline void Worker::link(Fiber* f) {
  f->all_prev = nullptr;
  f->all_next = live_;
  if (live_ != nullptr) live_->all_prev = f;
  live_ = f;
  ++stats_.fibers_live;
}

inline void Worker::unlink(Fiber* f) {
  if (f->all_prev != nullptr)
    f->all_prev->all_next = f->all_next;
  else
    live_ = f->all_next;
  if (f->all_next != nullptr) f->all_next->all_prev = f->all_prev;
  f->all_prev = f->all_next = nullptr;
  --stats_.fibers_live;
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
  void* block = alloc::allocate(offset + task_size, std::max(alignof(Fiber), task_align));
  Fiber* f = ::new (block) Fiber;
  f->id = next_id();
  f->stack_size = static_cast<std::uint32_t>(stack_size);
  const std::size_t name_len = std::min(options.name.size(), sizeof f->name - 1);
  if (name_len != 0) std::memcpy(f->name, options.name.data(), name_len);
  f->name[name_len] = '\0';
  link(f);
  ++stats_.spawns;
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
  if (stats_.fibers_live >= stacks_.stats().slots_created + budget.stacks_left()) {
    throw std::system_error(errno_error(EAGAIN), "weft::spawn: " + budget.describe());
  }
}

void Worker::launch(Fiber* fiber, TaskBase* task) {
  fiber->task = task;
  fiber->state = FiberState::runnable;
  run_queue_.push_back(fiber);
}

void Worker::discard(Fiber* fiber) noexcept {
  unlink(fiber);
  fiber->task = nullptr;
  free_record(fiber);
}

// ---- the loop -------------------------------------------------------------------

void Worker::run(Fiber* main) {
  while (main->join_state.load(std::memory_order_acquire) != kJoinFinished) round();
}

void Worker::round() {
  ++stats_.rounds;
  if (inbox_full_.load(std::memory_order_acquire)) take_inbox();
  const bool runnable = !run_queue_.empty();
  if (!runnable) {
    if (timers_.empty() && !poller_.busy() && remote_expected_ == 0) report_deadlock();
    // About to sleep: a good moment to look for stacks that grew deep.
    if (stacks_.has_unchecked()) stacks_.sweep();
  }
  poller_.poll(!runnable, timers_.next_deadline(), stats_);
  // A thread that readied a fiber after the check above also woke the poll.
  if (inbox_full_.load(std::memory_order_acquire)) take_inbox();
  if (!timers_.empty()) stats_.timers_fired += timers_.fire_expired(Clock::now());
  round_left_ = std::max(run_queue_.size(), kRoundMinimum);
  Fiber* next = pick_next();
  if (next != &home_) switch_to(next);
}

void Worker::ready_remote(Fiber* fiber, bool announced) {
  {
    std::lock_guard<std::mutex> lock(inbox_mutex_);
    inbox_.push_back({fiber, announced});
    inbox_full_.store(true, std::memory_order_release);
  }
  poller_.wake();
}

void Worker::take_inbox() {
  std::vector<Arrival, alloc::Allocator<Arrival>> arrived;
  {
    std::lock_guard<std::mutex> lock(inbox_mutex_);
    arrived.swap(inbox_);
    inbox_full_.store(false, std::memory_order_relaxed);
  }
  for (const Arrival& a : arrived) {
    if (a.announced) --remote_expected_;
    ready(a.fiber);
  }
}

void Worker::report_deadlock() {
  throw std::runtime_error("weft: deadlock: every fiber is parked (" +
                           std::to_string(stats_.fibers_live) +
                           " alive) and no timer, I/O operation or other fiber can wake them");
}

Fiber* Worker::pick_next() {
  while (round_left_ > 0) {
    Fiber* f = run_queue_.pop_front();
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
  f->state = FiberState::finished;
  complete(f);
}

void Worker::switch_to(Fiber* next) {
  Fiber* self = current_;
  const void* sp = __builtin_frame_address(0);
  if (sp < self->lowest_sp) self->lowest_sp = sp;
  current_ = next;
  next->state = FiberState::running;
  ++stats_.switches;
  self->eh = *eh_globals_;
  *eh_globals_ = next->eh;
  sanitizer::before_switch(self->san, next->san, after_ == After::finish);
  auto* previous = static_cast<Fiber*>(weft_context_switch(&self->sp, next->sp, self));
  // Resumed. Read the worker afresh: code after a switch must not trust
  // anything cached from before it.
  sanitizer::after_switch(self->san, &previous->san);
  current()->after_switch(previous);
}

void Worker::fiber_main(void* arg, void* from) {
  auto* self = static_cast<Fiber*>(arg);
  auto* previous = static_cast<Fiber*>(from);
  sanitizer::after_switch(self->san, &previous->san);
  current()->after_switch(previous);
  self->task->run(self->task);
  current()->finish_current();
}

void Worker::after_switch(Fiber* previous) {
  switch (after_) {
    case After::nothing:
      return;
    case After::park:
      after_ = After::nothing;
      if (commit_ != nullptr && !commit_(previous, commit_arg_)) ready(previous);
      return;
    case After::finish:
      after_ = After::nothing;
      stacks_.release(previous->stack, previous->lowest_sp);
      previous->stack = {};
      sanitizer::destroy(previous->san);
      complete(previous);
      return;
  }
}

// A finished fiber whose stack is gone: publish that, and free the record or
// wake the joiner.
void Worker::complete(Fiber* f) {
  unlink(f);
  const std::uintptr_t prev = f->join_state.exchange(kJoinFinished, std::memory_order_acq_rel);
  if (prev == kJoinDetached) {
    if (f->task->error && !f->abandoned) report_detached_error(f);
    free_record(f);
  } else if (prev != kJoinNone && !stopping_) {
    ready(reinterpret_cast<Fiber*>(prev));
  }
}

void Worker::finish_current() {
  current_->state = FiberState::finished;
  after_ = After::finish;
  switch_to(pick_next());
  std::fprintf(stderr, "weft: internal error: a finished fiber was resumed\n");
  std::abort();
}

void Worker::ready(Fiber* fiber) {
  if (stopping_) return;
  ++stats_.wakeups;
  fiber->state = FiberState::runnable;
  run_queue_.push_back(fiber);
}

void Worker::yield() {
  ++stats_.yields;
  Fiber* self = current_;
  // Depth is otherwise noted at switches, and this yield may not switch.
  const void* sp = __builtin_frame_address(0);
  if (sp < self->lowest_sp) self->lowest_sp = sp;
  self->state = FiberState::runnable;
  run_queue_.push_back(self);
  Fiber* next = pick_next();
  if (next == self) {
    self->state = FiberState::running;
    return;
  }
  switch_to(next);
}

void Worker::park(Commit commit, void* arg) {
  ++stats_.parks;
  current_->state = FiberState::parked;
  after_ = After::park;
  commit_ = commit;
  commit_arg_ = arg;
  switch_to(pick_next());
}

// ---- stopping -------------------------------------------------------------------

void Worker::stop() {
  stopping_ = true;
  // 1. No request, and no helper thread, may still write into a fiber's memory.
  const bool io_ended = poller_.cancel_all(stats_) && wait_for_remote();
  while (run_queue_.pop_front() != nullptr) {
  }
  // 2. Detach every parked fiber from what it waits on, while its stack (where
  //    the wait's bookkeeping lives) is intact: events and tokens that outlive
  //    the run must not point into recycled stacks.
  for (Fiber* f = live_; f != nullptr; f = f->all_next) {
    if (AbandonHook* hook = std::exchange(f->abandon_hook, nullptr)) hook->run(hook);
  }
  timers_.clear();
  // 3. Free them. Destroying a detached fiber's captures may close sockets
  //    in the background: 4. hand those closes to the kernel.
  if (!io_ended) {
    // A request that would not end may still write into abandoned stacks:
    // never reuse them, and never unmap the arenas they live in.
    leak_abandoned_stacks_ = true;
    stacks_.keep_mapped();
  }
  while (live_ != nullptr) abandon(live_);
  leak_abandoned_stacks_ = false;
  poller_.drain(stats_);
  stopping_ = false;
}

// Waits (a few seconds at most) until every fiber that waits on another
// thread has been handed back.
bool Worker::wait_for_remote() {
  const Deadline give_up = Clock::now() + std::chrono::seconds(5);
  while (remote_expected_ != 0 && Clock::now() < give_up) {
    poller_.poll(true, Clock::now() + std::chrono::milliseconds(50), stats_);
    take_inbox();
  }
  if (remote_expected_ == 0) return true;
  std::fprintf(stderr, "weft: %zu blocking calls did not finish in time\n", remote_expected_);
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
  f->state = FiberState::finished;
  if (!f->task->error) {
    f->task->error = std::make_exception_ptr(std::system_error(
        errno_error(ECANCELED),
        "weft: the runtime stopped before fiber " + std::string(display_name(f)) + " finished"));
  }
  complete(f);
}

Stats Worker::snapshot() const {
  Stats s = stats_;
  const alloc::StackPoolStats pool = stacks_.stats();
  s.stack_slots = pool.slots_created;
  s.stack_trims = pool.trims;
  s.stack_checks = pool.checks;
  return s;
}

}  // namespace weft::fibers
