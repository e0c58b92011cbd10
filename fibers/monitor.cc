#include <weft/fibers/monitor.h>

#include <algorithm>
#include <cstdio>

#include <weft/fibers/scheduler.h>
#include <weft/fibers/worker.h>
#include <weft/fibers/probes.h>
#include <weft/fibers/trace.h>

namespace weft::fibers {

using std::chrono::steady_clock;

namespace {
constexpr auto kIdleTickMax = std::chrono::milliseconds(50);
}

Monitor::Monitor(Scheduler& scheduler, const MonitorOptions& options)
    : scheduler_(scheduler), options_(options), seen_(scheduler.size()) {
  thread_ = std::thread([this] {
    trace::label_this_thread("monitor");
    run();
  });
}

Monitor::~Monitor() {
  {
    std::lock_guard<std::mutex> g(mutex_);
    stop_ = true;
  }
  cv_.notify_one();
  thread_.join();
}

void Monitor::run() {
  // Short enough to rescue in time and to date a hog within a quarter of its
  // threshold; never below 200 µs.
  auto busy_tick = std::chrono::duration_cast<steady_clock::duration>(std::chrono::microseconds(20000));
  if (options_.rescue_after.count() > 0) busy_tick = std::min<steady_clock::duration>(busy_tick, options_.rescue_after / 2);
  if (options_.hog_threshold.count() > 0) busy_tick = std::min<steady_clock::duration>(busy_tick, options_.hog_threshold / 4);
  busy_tick = std::max<steady_clock::duration>(busy_tick, std::chrono::microseconds(200));
  steady_clock::duration tick = busy_tick;
  std::unique_lock<std::mutex> lk(mutex_);
  while (!stop_) {
    cv_.wait_for(lk, tick, [this] { return stop_; });
    if (stop_ || scheduler_.stopping()) break;
    lk.unlock();
    const bool busy = sample(steady_clock::now());
    lk.lock();
    tick = busy ? busy_tick : std::min<steady_clock::duration>(tick * 2, kIdleTickMax);
  }
}

bool Monitor::sample(steady_clock::time_point now) {
  bool any_on_fiber = false;
  for (std::size_t i = 0; i < seen_.size(); ++i) {
    Worker* w = scheduler_.worker(i);
    if (w == nullptr) continue;
    Seen& s = seen_[i];
    const std::uint64_t count = w->switch_count();
    const bool on_fiber = w->running() != nullptr;
    any_on_fiber |= on_fiber;
    if (count != s.count) {
      s = Seen{count, now, on_fiber ? w->cpu_time() : std::chrono::nanoseconds{}, false};
      continue;
    }
    if (!on_fiber) continue;
    const auto ran = now - s.since;
    if (options_.rescue_after.count() > 0 && ran >= options_.rescue_after) {
      w->mark_stuck(count);  // fibers readied from other threads go elsewhere
      std::size_t n = w->backend().rescue(scheduler_);
      // Its due sleeps and wait deadlines, and what other threads readied
      // into its inbox meanwhile. (With one worker nobody else could run
      // them.)
      if (seen_.size() > 1) n += w->rescue_arrivals();
      // A fiber the busy one readied waits in its worker's next slot. (A
      // lone worker takes its slot without an exchange: never touch it.)
      // It is runnable already: moved to the global queue, not readied
      // again. Once the runtime stops it is left out of every queue, and
      // abandoned with the other live fibers.
      Fiber* f = seen_.size() > 1 && !scheduler_.stopping() ? w->take_next_slot() : nullptr;
      if (f != nullptr) {
        scheduler_.push_global_front(f);
        ++n;
      }
      rescued_.fetch_add(n, std::memory_order_relaxed);
    }
    // A hog is judged by the CPU its thread used, not by the wall clock: a
    // worker thread the kernel left waiting (an overloaded machine) has not
    // been hogging. Completions are rescued by wall time all the same.
    // A thread that used little of that time and sleeps in the kernel now
    // is held by a blocking system call in the fiber: reported the same way.
    if (options_.hog_threshold.count() > 0 && ran >= options_.hog_threshold && !s.reported) {
      const auto used = w->cpu_time() - s.cpu_since;
      if (used >= options_.hog_threshold) {
        s.reported = true;
        report(i, count, std::chrono::duration_cast<std::chrono::milliseconds>(used), Stall::computing);
      } else if (used < options_.hog_threshold / 2 && w->thread_sleeps_in_kernel()) {
        s.reported = true;
        report(i, count, std::chrono::duration_cast<std::chrono::milliseconds>(ran), Stall::blocked);
      }
    }
  }
  return any_on_fiber;
}

void Monitor::report(std::size_t index, std::uint64_t count, std::chrono::milliseconds ran, Stall kind) {
  Worker::RunningFiber f;
  // False: the fiber switched out meanwhile, and the episode is over.
  if (!scheduler_.worker(index)->describe_running(count, f)) return;
  reported_.fetch_add(1, std::memory_order_relaxed);
  WEFT_PROBE4(hog, f.id, f.name, static_cast<long long>(ran.count()), index);
  if (trace::on()) [[unlikely]]
    trace::hog(&scheduler_, index, f.id, f.name, ran.count());
  const char* name = f.name[0] != '\0' ? f.name : "(unnamed)";
  const auto id = static_cast<unsigned long long>(f.id);
  if (kind == Stall::computing) {
    std::fprintf(stderr,
                 "weft: fiber %s (#%llu) has run %lld ms without yielding on worker %zu "
                 "(yield now and then, or move the work to weft::blocking)\n",
                 name, id, static_cast<long long>(ran.count()), index);
  } else {
    std::fprintf(stderr,
                 "weft: fiber %s (#%llu) has blocked worker %zu for %lld ms in a system call "
                 "(use weft's I/O, or wrap the call in weft::blocking)\n",
                 name, id, index, static_cast<long long>(ran.count()));
  }
}

}  // namespace weft::fibers
