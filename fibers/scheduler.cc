#include <weft/fibers/scheduler.h>

#include <algorithm>

#include <weft/fibers/sanitizer.h>
#include <weft/fibers/worker.h>

namespace weft::fibers {

// A full (store-load) fence between a publication and the look that follows
// it. ThreadSanitizer does not model fences: in its builds both sides do a
// read-modify-write of one shared word instead, which orders them the same
// way and which it does understand.
void Scheduler::store_load_fence() {
#ifdef WEFT_TSAN
  fence_word_.fetch_add(0, std::memory_order_seq_cst);
#else
  std::atomic_thread_fence(std::memory_order_seq_cst);
#endif
}

namespace {
std::mutex debug_list_mutex;
}  // namespace

// tools/gdb/weft.py, for gdb to load with the program (.debug_gdb_scripts).
#include "weft_gdb_script.inc"

}  // namespace weft::fibers

// The first live scheduler, for debuggers (see Scheduler::debug_next_).
extern "C" {
[[gnu::used]] weft::fibers::Scheduler* weft_debug_schedulers = nullptr;
}

namespace weft::fibers {

Scheduler::Scheduler(std::size_t workers, std::size_t guard_bytes)
    : arenas_(guard_bytes),
      workers_(workers, nullptr),
      stop_barrier_(static_cast<std::ptrdiff_t>(workers)) {
  idle_.reserve(workers);
  std::lock_guard<std::mutex> g(debug_list_mutex);
  debug_next_ = weft_debug_schedulers;
  weft_debug_schedulers = this;
}

Scheduler::~Scheduler() {
  std::lock_guard<std::mutex> g(debug_list_mutex);
  for (Scheduler** p = &weft_debug_schedulers; *p != nullptr; p = &(*p)->debug_next_) {
    if (*p == this) {
      *p = debug_next_;
      break;
    }
  }
}

void Scheduler::attach(std::size_t index, Worker* worker) {
  std::lock_guard<std::mutex> lock(idle_mutex_);
  workers_[index] = worker;
}

// ---- the global queue -------------------------------------------------------------

void Scheduler::push_global(Fiber* first, Fiber* last, std::uint32_t n) {
  {
    std::lock_guard<SpinLock> lock(global_mutex_);
    global_.append(first, last);
    global_size_.fetch_add(n, std::memory_order_release);
  }
  notify_work();
}

void Scheduler::push_global_front(Fiber* first, Fiber* last, std::uint32_t n) {
  {
    std::lock_guard<SpinLock> lock(global_mutex_);
    global_.prepend(first, last);
    global_size_.fetch_add(n, std::memory_order_release);
  }
  notify_work();
}

bool Scheduler::ready_global(Fiber* f) {
  if (stopping()) return false;
  f->become(FiberState::runnable);
  push_global_front(f);
  return true;
}

Fiber* Scheduler::take_global(std::uint32_t max, std::uint32_t* n) {
  *n = 0;
  if (global_empty()) return nullptr;
  std::lock_guard<SpinLock> lock(global_mutex_);
  Fiber* first = global_.take(max, n);
  global_size_.fetch_sub(*n, std::memory_order_release);
  return first;
}

// ---- idle and spinning workers ----------------------------------------------------

void Scheduler::notify_work() {
  // Pairs with the fence in go_idle(): either this sees the idle worker, or
  // that worker's second look sees the work queued before this call.
  store_load_fence();
  if (idle_count_.load(std::memory_order_relaxed) == 0) return;
  if (spinning_.load(std::memory_order_relaxed) != 0) return;
  Worker* chosen = nullptr;
  {
    std::lock_guard<std::mutex> lock(idle_mutex_);
    if (idle_.empty()) return;
    int expected = 0;
    // Only one waker at a time makes a worker spin.
    if (!spinning_.compare_exchange_strong(expected, 1, std::memory_order_acq_rel)) return;
    chosen = idle_.back();
    idle_.pop_back();
    idle_count_.fetch_sub(1, std::memory_order_relaxed);
  }
  chosen->wake();
}

void Scheduler::go_idle(Worker* w) {
  {
    std::lock_guard<std::mutex> lock(idle_mutex_);
    idle_.push_back(w);
    idle_count_.fetch_add(1, std::memory_order_relaxed);
  }
  store_load_fence();
}

bool Scheduler::leave_idle(Worker* w) {
  std::lock_guard<std::mutex> lock(idle_mutex_);
  auto it = std::find(idle_.begin(), idle_.end(), w);
  if (it == idle_.end()) return true;  // notify_work() took us off: we are spinning
  idle_.erase(it);
  idle_count_.fetch_sub(1, std::memory_order_relaxed);
  return false;
}

std::int64_t Scheduler::live_fibers() const {
  std::int64_t n = 0;
  for (const Worker* w : workers_) {
    if (w != nullptr) n += w->live_balance();
  }
  return n;
}

void Scheduler::report_deadlock(std::string message) {
  {
    std::lock_guard<std::mutex> lock(deadlock_mutex_);
    if (deadlock_.empty()) deadlock_ = std::move(message);
  }
  begin_stop();
}

// ---- stopping -----------------------------------------------------------------------

void Scheduler::watch_main(Fiber* main) {
  main_.store(main, std::memory_order_seq_cst);
  if (main->join_state.load(std::memory_order_seq_cst) == kJoinFinished) begin_stop();
}

void Scheduler::begin_stop() {
  if (stopping_.exchange(true, std::memory_order_acq_rel)) return;
  for (Worker* w : workers_) {
    if (w != nullptr) w->wake();
  }
}

}  // namespace weft::fibers
