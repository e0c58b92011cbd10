// The public fiber API (spawn.h, stats.h) on top of the Worker.
#include <weft/fibers/spawn.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <system_error>

#include <weft/fibers/result.h>
#include <weft/fibers/stats.h>
#include <weft/fibers/wait.h>
#include <weft/fibers/worker.h>

namespace weft {
namespace fibers {

Fiber* create_fiber(std::size_t task_size, std::size_t task_align, const SpawnOptions& options,
                    void** task) {
  Worker* w = Worker::current();
  if (w == nullptr) {
    throw std::system_error(errno_error(EPERM),
                            "weft::spawn must be called inside a running weft::Runtime");
  }
  return w->create(task_size, task_align, options, task);
}

void discard_fiber(Fiber* fiber) noexcept { Worker::current()->discard(fiber); }

void launch(Fiber* fiber, TaskBase* task) noexcept { Worker::current()->launch(fiber, task); }

bool is_finished(const Fiber* fiber) noexcept {
  return fiber->join_state.load(std::memory_order_acquire) == kJoinFinished;
}

void wait_finished(Fiber* fiber) {
  if (is_finished(fiber)) return;
  Worker& w = require_fiber("weft::JoinHandle::join (on a fiber that has not finished)");
  if (w.current_fiber() == fiber)
    throw std::logic_error("weft::JoinHandle::join: a fiber cannot join itself");
  // Publish ourselves as the joiner only once our registers are saved; if the
  // fiber finished meanwhile the commit fails and we are readied at once.
  w.park(
      {"weft::JoinHandle::join", fiber},
      [](Fiber* parked, void* arg) {
        std::uintptr_t expected = kJoinNone;
        return static_cast<Fiber*>(arg)->join_state.compare_exchange_strong(
            expected, reinterpret_cast<std::uintptr_t>(parked), std::memory_order_acq_rel);
      },
      fiber);
}

void release(Fiber* fiber) noexcept { free_record(fiber); }

void detach(Fiber* fiber) noexcept {
  std::uintptr_t state = fiber->join_state.load(std::memory_order_acquire);
  for (;;) {
    if (state == kJoinFinished) {
      // The exception was never observed: same verdict as when it escapes
      // an already detached fiber.
      if (fiber->task->error && !fiber->abandoned) report_detached_error(fiber);
      free_record(fiber);
      return;
    }
    if (fiber->join_state.compare_exchange_weak(state, kJoinDetached, std::memory_order_acq_rel)) {
      return;
    }
  }
}

void detach(Fiber* fiber, FinishHook* hook) noexcept {
  std::uintptr_t expected = kJoinNone;
  const auto tagged = reinterpret_cast<std::uintptr_t>(hook) | kJoinHookTag;
  if (fiber->join_state.compare_exchange_strong(expected, tagged, std::memory_order_acq_rel)) return;
  // Finished already (nothing else may be there: the handle was ours).
  free_record(fiber);
  hook->run(hook);
}

std::uint64_t id_of(const Fiber* fiber) noexcept { return fiber->id; }

}  // namespace fibers

void throw_empty_join_handle() {
  throw std::logic_error(
      "weft::JoinHandle::join: the handle is empty (joined, detached or moved from)");
}

void yield() { fibers::require_fiber("weft::yield").yield(); }

void sleep_until(Deadline deadline) {
  fibers::Worker& w = fibers::require_fiber("weft::sleep_until");
  struct SleepTimer : fibers::Timer {
    fibers::Worker* worker;
    fibers::Fiber* fiber;
  } timer;
  timer.deadline = deadline;
  timer.worker = &w;
  timer.fiber = w.current_fiber();
  timer.fire = [](fibers::Timer* t) {
    auto* s = static_cast<SleepTimer*>(t);
    fibers::ready_here_or_home(s->fiber, s->worker);
  };
  timer.any_thread = true;  // the monitor may fire it while w runs a hog
  // Armed by the park's commit, once this fiber has switched out: fired on
  // another thread (the monitor), the timer may send the fiber to another
  // worker at once.
  w.park(
      {"weft::sleep_until", nullptr},
      [](fibers::Fiber*, void* t) {
        auto* s = static_cast<SleepTimer*>(t);
        s->worker->timers().add(s);
        return true;
      },
      &timer);
}

// Checked here too, so that a call outside a fiber names sleep_for (a
// debugger shows the sleep in sleep_until's frame, as it always did).
void sleep_for(Clock::duration d) {
  (void)fibers::require_fiber("weft::sleep_for");
  sleep_until(Clock::now() + d);
}

Result<void> sleep_until(Deadline until, const WaitOptions& options) {
  fibers::Worker& w = fibers::require_fiber("weft::sleep_until");
  WaitOptions o = options;
  if (until < o.deadline) o.deadline = until;
  fibers::Waiter waiter(w);
  const int outcome = waiter.wait(
      o, {"weft::sleep_until", nullptr}, [](fibers::Waiter&, void*) { return true; }, nullptr);
  if (outcome == 0) return {};
  if (outcome == fibers::kDeadlineExceeded) {
    // Whose deadline was it? The sleep's own end is no error.
    const fibers::WaitTerms terms(o, fibers::current_scope());
    if (terms.deadline() >= until) return {};
  }
  return errno_error(outcome);
}

Result<void> sleep_for(Clock::duration d, const WaitOptions& options) {
  (void)fibers::require_fiber("weft::sleep_for");
  return sleep_until(Clock::now() + d, options);
}

bool in_fiber() noexcept {
  fibers::Worker* w = fibers::Worker::current();
  return w != nullptr && w->on_fiber();
}

namespace this_fiber {

std::uint64_t id() noexcept {
  return in_fiber() ? fibers::Worker::current()->current_fiber()->id : 0;
}

std::string_view name() noexcept {
  return in_fiber() ? std::string_view(fibers::Worker::current()->current_fiber()->name)
                    : std::string_view();
}

void set_name(std::string_view name) noexcept {
  if (!in_fiber()) return;
  fibers::Fiber* f = fibers::Worker::current()->current_fiber();
  const std::size_t n = std::min(name.size(), sizeof f->name - 1);
  if (n != 0) std::memcpy(f->name, name.data(), n);
  f->name[n] = '\0';
}

std::size_t worker() noexcept {
  return in_fiber() ? fibers::Worker::current()->index() : SIZE_MAX;
}

}  // namespace this_fiber

Stats stats() {
  fibers::Worker* w = fibers::Worker::current();
  if (w == nullptr) return Stats{};
  Stats s = w->snapshot();
  s.fibers_live = static_cast<std::uint64_t>(w->scheduler().live_fibers());
  return s;
}

Stats& operator+=(Stats& a, const Stats& b) {
  a.spawns += b.spawns;
  a.switches += b.switches;
  a.yields += b.yields;
  a.parks += b.parks;
  a.wakeups += b.wakeups;
  a.rounds += b.rounds;
  a.parks_worker += b.parks_worker;
  a.idle_spins += b.idle_spins;
  a.buffer_ring_misses += b.buffer_ring_misses;
  a.idle_spin_hits += b.idle_spin_hits;
  a.steals += b.steals;
  a.stolen_in += b.stolen_in;
  a.stolen_out += b.stolen_out;
  a.timers_fired += b.timers_fired;
  a.overflows += b.overflows;
  a.kept_local += b.kept_local;
  a.yields_to_global += b.yields_to_global;
  a.fibers_live += b.fibers_live;
  a.stack_slots = std::max(a.stack_slots, b.stack_slots);  // runtime-wide: count once
  a.stack_trims += b.stack_trims;
  a.stack_pages_committed += b.stack_pages_committed;
  a.stack_pages_trimmed += b.stack_pages_trimmed;
  a.stack_checks += b.stack_checks;
  a.sqes_submitted += b.sqes_submitted;
  a.cqes_reaped += b.cqes_reaped;
  a.ring_enters += b.ring_enters;
  a.ring_waits += b.ring_waits;
  a.cq_overflows += b.cq_overflows;
  a.split_links += b.split_links;
  a.epoll_waits += b.epoll_waits;
  a.poll_failures += b.poll_failures;
  a.blocking_jobs += b.blocking_jobs;
  return a;
}

std::string format_stats(const Stats& s) {
  std::string out;
  auto line = [&out](const char* name, std::uint64_t v) {
    char buf[96];
    std::snprintf(buf, sizeof buf, "%-21s %llu\n", name, static_cast<unsigned long long>(v));
    out += buf;
  };
  line("spawns", s.spawns);
  line("switches", s.switches);
  line("yields", s.yields);
  line("parks", s.parks);
  line("wakeups", s.wakeups);
  line("rounds", s.rounds);
  line("parks_worker", s.parks_worker);
  line("idle_spins", s.idle_spins);
  line("buffer_ring_misses", s.buffer_ring_misses);
  line("idle_spin_hits", s.idle_spin_hits);
  line("steals", s.steals);
  line("stolen_in", s.stolen_in);
  line("stolen_out", s.stolen_out);
  line("timers_fired", s.timers_fired);
  line("overflows", s.overflows);
  line("kept_local", s.kept_local);
  line("yields_to_global", s.yields_to_global);
  line("fibers_live", s.fibers_live);
  line("stack_slots", s.stack_slots);
  line("stack_trims", s.stack_trims);
  line("stack_pages_committed", s.stack_pages_committed);
  line("stack_pages_trimmed", s.stack_pages_trimmed);
  line("stack_checks", s.stack_checks);
  line("sqes_submitted", s.sqes_submitted);
  line("cqes_reaped", s.cqes_reaped);
  line("ring_enters", s.ring_enters);
  line("ring_waits", s.ring_waits);
  line("cq_overflows", s.cq_overflows);
  line("split_links", s.split_links);
  line("epoll_waits", s.epoll_waits);
  line("poll_failures", s.poll_failures);
  line("blocking_jobs", s.blocking_jobs);
  return out;
}

}  // namespace weft
