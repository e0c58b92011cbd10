// weft/runtime/runtime.h — the entry point: a worker, its ring, and run().
//
//   int main() {
//     weft::Runtime rt;
//     return rt.run([] { ... straight-line blocking code ... return 0; });
//   }
//
// run() starts the workers (one per CPU by default; the calling thread is
// worker 0), runs `main` as the first fiber and returns its value (or
// rethrows its exception) once it finishes.
// Fibers still parked when `main` returns are abandoned, as goroutines are
// when Go's main returns: their I/O is cancelled and their stacks freed
// without unwinding, and their join handles report the abandonment. Join
// what you spawn if its destructors must run.
//
// Two models, one program (RuntimeOptions::mode, or WEFT_MODE=multi|single
// where the code left the choice open):
//   multi   Go's: one worker per CPU, each with its own ring, idle workers
//           stealing from busy ones, and a monitor that reports a hog and
//           lets other workers serve what its ring completed.
//   single  Node's: one thread, one ring (or one epoll set), no stealing and
//           no other worker; only the blocking pool (weft::blocking, file
//           jobs on epoll) and the hog monitor's reports run beside it. A
//           fiber that computes holds up everything else, as a callback
//           that computes holds up Node's event loop.
//
// Environment (where the code left the choice open): WEFT_MODE=multi|single,
// WEFT_WORKERS=N, WEFT_PIN=1, WEFT_BACKEND=uring|epoll; WEFT_STATS=1 prints the runtime's
// counters when run() ends.
//
// Thread rules: one run() at a time per Runtime, on any one thread; a thread
// runs one Runtime at a time.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <weft/fibers/spawn.h>
#include <weft/fibers/stats.h>
#include <weft/uring/features.h>

namespace weft {

// Which I/O backend a runtime drives.
enum class BackendKind {
  automatic,  // io_uring where the kernel allows it, else epoll (with a notice)
  uring,      // io_uring or nothing: start-up fails with the reason
  epoll,      // epoll, even where io_uring works
};

// Go's model or Node's (see the top).
enum class Mode {
  automatic,  // WEFT_MODE=multi|single, else multi
  multi,
  single,
};

struct RuntimeOptions {
  // automatic honours WEFT_MODE; an explicit choice here wins. single with
  // workers above 1 is an error (std::invalid_argument); single with
  // WEFT_WORKERS=N above 1 runs one worker and says so on stderr.
  Mode mode = Mode::automatic;
  // Worker threads, each with its own run queue and backend. 0: one per CPU
  // the process may run on, or WEFT_WORKERS=N. Always 1 in single mode.
  std::size_t workers = 0;
  // Pin worker k to the k-th allowed CPU (also WEFT_PIN=1).
  bool pin = false;
  // automatic honours WEFT_BACKEND=uring|epoll; an explicit choice here wins.
  BackendKind backend = BackendKind::automatic;
  // Stack reserved for fibers that do not ask (SpawnOptions::stack_size).
  std::size_t default_stack_size = 256 << 10;
  // Submission queue entries of the ring (the completion queue gets twice as
  // many). A round that queues more submits early.
  unsigned ring_entries = 1024;
  // Optional io_uring features, on when the kernel has them; switch off to
  // compare.
  bool defer_taskrun = true;
  bool single_issuer = true;
  bool register_ring_fd = true;
  bool multishot_accept = true;
  // Process::wait as one IORING_OP_WAITID (Linux 6.7); off, or on an older
  // kernel: a poll on the child's pidfd, then waitid(2).
  bool waitid = true;
  // How a worker wakes a parked one (features.h): automatic honours
  // WEFT_WAKE=msg_ring|eventfd, else MSG_RING where the kernel has it.
  WakeMechanism wake = WakeMechanism::automatic;
  // Socket sends of at least this many bytes go out zero-copy
  // (IORING_OP_SEND_ZC, Linux 6.0), on the io_uring backend. Off (0) by
  // default: on loopback the kernel copies anyway and the extra completion
  // only costs (perf/RESULTS.md). WEFT_SEND_ZC=N overrides.
  std::size_t send_zc_min = 0;
  // Socket receives without a deadline take their data from a ring of this
  // many 16 KiB provided buffers per worker (a power of two, up to 32768;
  // io_uring backend, Linux 5.19), copied into the caller's buffer. 0: off
  // (the default: weft's read API fills the caller's buffer anyway, so the
  // ring saves no memory and the copy costs; perf/RESULTS.md).
  // WEFT_PROVIDED_BUFFERS=N overrides.
  unsigned provided_buffers = 0;
  // Print the counters when run() ends (also WEFT_STATS=1).
  bool print_stats = false;
  // Record a timeline of each run() into this Chrome trace-event file (a
  // later run() replaces it: give each run its own path),
  // for Perfetto or chrome://tracing (fibers/trace.h; also WEFT_TRACE=path,
  // which wins; "%p" in it becomes the process id). Written when run()
  // ends, and by weft::trace::write().
  std::string trace_path;
  // When every fiber has been parked this long and nothing inside the
  // runtime can wake one (no timer, no I/O, no blocking call), say so on
  // stderr, once per such spell: every fiber, each with what it waits in
  // ("weft::Mutex::lock" and the mutex's address). The program goes on
  // waiting: a thread outside the runtime may still wake a fiber. 0: never.
  // WEFT_DEADLOCK_REPORT_MS=N overrides.
  std::chrono::milliseconds deadlock_report{1000};
  // Throw the same report from run() at once instead (tests, and programs
  // whose fibers only each other can wake).
  bool detect_deadlock = false;
  // Perturb the scheduling order, to flush out code that relies on one the
  // runtime does not promise (also WEFT_SHUFFLE=1; CTest runs the stress
  // suites so).
  bool shuffle = false;
  // A fiber that runs this long without yielding is reported on stderr, once
  // per episode: "weft: fiber <name> (#<id>) has run <N> ms without yielding
  // on worker <k>". 0: never. WEFT_HOG_MS=N overrides.
  std::chrono::milliseconds hog_threshold{100};
  // With several workers: completions that land on the ring of a worker busy
  // with one fiber for this long are delivered by the monitor thread, and
  // their fibers run on other workers (both backends; see fibers/monitor.h).
  // The rings then do without DEFER_TASKRUN. 0: never (completions wait for
  // their worker).
  std::chrono::microseconds rescue_after{2000};
  // With several workers: a worker that runs out of work spins this long
  // looking for more before it sleeps (one worker at a time), so fibers
  // readied meanwhile cost no wake-up system call. 0: sleep at once (the
  // least CPU when load is light). WEFT_IDLE_SPIN_US=N overrides.
  std::chrono::microseconds idle_spin{20};
  // When run() ends with blocking calls (weft::blocking, epoll file
  // operations) still running on helper threads, it says so on stderr and
  // waits this long for them (they may still write into their fibers'
  // stacks); past it their fibers are abandoned and their stacks kept
  // mapped. 0: do not wait.
  std::chrono::milliseconds exit_wait{5000};
};

// A way into a runtime from any thread, as Tokio's Handle::spawn: a plain
// thread (a callback of a C library, a thread pool, a signal thread) starts
// a fiber in the runtime's run() without waiting for it.
//
//   weft::Handle h = rt.handle();            // before or during run()
//   std::thread t([h] { h.spawn([] { serve_one(); }); });
//
// spawn() copies `fn` and hands it to a worker (round robin), which starts
// it as a detached fiber: an exception escaping it is reported and aborts,
// as for any detached fiber. To get a result back, send it on a Channel (a
// plain thread may block on one). spawn() returns false, and destroys its
// copy of `fn` at once, when no run() is under way (before it, after main
// returned, or after the runtime was destroyed: a Handle may outlive its
// runtime). A fiber handed over just as main returns is destroyed without
// running, as fibers still queued then are abandoned.
//
// Thread rules: any thread, any number at once; copies share one runtime.
class Handle {
 public:
  Handle() = default;  // refers to no runtime: spawn() returns false
  template <class F>
  bool spawn(F&& fn, const SpawnOptions& options = {}) const;

  struct Gate;  // the runtime's side, shared (runtime.cc)

 private:
  friend class Runtime;
  explicit Handle(std::shared_ptr<Gate> gate) : gate_(std::move(gate)) {}
  // Hands `start(job, true)` to a worker; false (nothing done) when no run()
  // is under way. A worker that finds the run ending calls start(job, false).
  bool post(void (*start)(void* job, bool run) noexcept, void* job) const;
  static void report_failed_start(const char* what) noexcept;
  std::shared_ptr<Gate> gate_;
};

template <class F>
bool Handle::spawn(F&& fn, const SpawnOptions& options) const {
  using Fn = std::decay_t<F>;
  struct Job {
    Fn fn;
    std::string name;
    std::size_t stack_size;
  };
  auto* job = new Job{Fn(std::forward<F>(fn)), std::string(options.name), options.stack_size};
  auto start = [](void* p, bool run) noexcept {
    std::unique_ptr<Job> j(static_cast<Job*>(p));
    if (!run) return;
    try {
      weft::spawn(std::move(j->fn), {.name = j->name, .stack_size = j->stack_size}).detach();
    } catch (const std::exception& e) {
      report_failed_start(e.what());
    }
  };
  if (post(start, job)) return true;
  delete job;
  return false;
}

class Runtime {
 public:
  // Sets up the backend. With BackendKind::automatic, a kernel that refuses
  // io_uring (ENOSYS, EPERM from seccomp or kernel.io_uring_disabled, ENOMEM)
  // gets one line on stderr saying why, and the runtime runs on epoll. With
  // BackendKind::uring that is a std::system_error carrying the reason instead.
  explicit Runtime(const RuntimeOptions& options = {});
  ~Runtime();
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  template <class F>
  auto run(F&& main) -> std::invoke_result_t<std::decay_t<F>&> {
    Session session(*this);
    auto handle = spawn(std::forward<F>(main), {.name = "main"});
    session.drive(handle.native_handle());
    return handle.join();
  }

  // A handle other threads use to start fibers in this runtime's run().
  Handle handle() const;

  // "io_uring" or "epoll".
  const char* backend_name() const;
  // multi or single: what automatic resolved to.
  Mode mode() const;
  // "multi" or "single".
  const char* mode_name() const;
  // One line: the backend and what it runs with (ring flags and features).
  std::string describe_backend() const;
  // The ring's features (all off on epoll).
  const RingFeatures& features() const;
  // The counters of every run() so far, summed over workers.
  Stats last_stats() const;
  // The last run()'s counters, one entry per worker.
  std::vector<Stats> worker_stats() const;
  // Fibers the monitor readied by rescuing their completions from a busy
  // worker's ring, and hog episodes it reported, in the last run().
  std::uint64_t last_rescued() const;
  std::uint64_t last_hogs_reported() const;
  std::size_t workers() const;

 private:
  struct Impl;
  struct Run;
  // One run(): starts the workers, binds worker 0 to the calling thread.
  class Session {
   public:
    explicit Session(Runtime& rt);
    ~Session();
    Session(const Session&) = delete;
    Session& operator=(const Session&) = delete;
    // Runs until `main` finishes, then stops every worker and abandons what
    // is left.
    void drive(fibers::Fiber* main);

   private:
    Runtime& rt_;
    Run* run_;
  };
  std::unique_ptr<Impl> impl_;
};

}  // namespace weft
