// The monitor: one thread per runtime that watches the workers from outside.
//
// What it is for
//   A fiber that computes without yielding keeps its worker's thread. The
//   other workers steal the fibers queued behind it (scheduler.h), but two
//   things need a thread that is not a worker:
//   1. Completions stranded on the busy worker's backend. A fiber parked on
//      I/O waits for a completion that lands on the ring its worker submitted
//      to; while that worker computes, nobody would reap it. The monitor asks
//      the backend to rescue it (Poller::rescue): the fiber is readied onto
//      the global queue and another worker runs it.
//   2. Telling the user: once per episode it prints
//        weft: fiber <name> (#<id>) has run <N> ms without yielding on worker <k> (hint)
//      judged by the CPU time the worker's thread used in the episode
//      (Worker::cpu_time), so a thread the kernel did not run is no hog; or,
//      when the thread used under half of that and sleeps in the kernel
//      (Worker::thread_sleeps_in_kernel: a blocking read, a sleep, a slow
//      getaddrinfo called from the fiber),
//        weft: fiber <name> (#<id>) has blocked worker <k> for <N> ms in a system call (hint)
//      A thread that waits for a CPU (an overloaded machine) is neither.
//      Rescues (1.) are by wall time, so both kinds are served around.
//
// How it watches
//   Each worker publishes a switch count and the fiber it switched to
//   (Worker::switch_count, Worker::running). The monitor samples them every
//   tick: a worker whose count has not moved since the last sample and that
//   is on a fiber (not in its loop, not asleep) has been running that fiber
//   at least since the sample that first saw the count. Ticks are short
//   (rescue_after / 2) while some worker is on a fiber and back off to 50 ms
//   while none is, so an idle runtime wakes the monitor 20 times a second at
//   most.
//
// Thread rules: the monitor's thread only reads workers' published atomics,
// reads a running fiber's name and id (written before it first ran; the
// switch count is read again afterwards and the sample dropped if it moved)
// and calls Poller::rescue, which takes the backend's own lock. Stopped and
// joined before any worker starts its stop phases.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

namespace weft::fibers {

class Scheduler;

struct MonitorOptions {
  // Report a fiber that runs this long without yielding (0: never).
  std::chrono::milliseconds hog_threshold{100};
  // Rescue completions from a worker on one fiber this long (0: never).
  std::chrono::microseconds rescue_after{2000};
};

class Monitor {
 public:
  Monitor(Scheduler& scheduler, const MonitorOptions& options);
  ~Monitor();  // stops and joins the thread
  Monitor(const Monitor&) = delete;
  Monitor& operator=(const Monitor&) = delete;

  // How many fibers rescues readied, and hog episodes reported (any thread).
  std::uint64_t rescued() const { return rescued_.load(std::memory_order_relaxed); }
  std::uint64_t hogs_reported() const { return reported_.load(std::memory_order_relaxed); }

 private:
  struct Seen {
    std::uint64_t count = ~std::uint64_t{0};
    std::chrono::steady_clock::time_point since{};
    std::chrono::nanoseconds cpu_since{};  // the worker thread's CPU time then
    bool reported = false;
  };
  void run();
  // One look at every worker; returns whether any was on a fiber.
  bool sample(std::chrono::steady_clock::time_point now);
  // computing: the thread ran the fiber all along; blocked: it slept in a
  // system call the fiber made.
  enum class Stall { computing, blocked };
  void report(std::size_t worker, std::uint64_t count, std::chrono::milliseconds ran, Stall kind);

  Scheduler& scheduler_;
  const MonitorOptions options_;
  std::vector<Seen> seen_;  // monitor thread only
  std::atomic<std::uint64_t> rescued_{0};
  std::atomic<std::uint64_t> reported_{0};
  std::mutex mutex_;
  std::condition_variable cv_;
  bool stop_ = false;  // guarded by mutex_
  std::thread thread_;
};

}  // namespace weft::fibers
