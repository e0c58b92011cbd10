#include <weft/runtime/runtime.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>
#include <system_error>
#include <latch>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include <pthread.h>
#include <sched.h>
#include <signal.h>

#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define WEFT_UNDER_VALGRIND() (RUNNING_ON_VALGRIND != 0)
#else
#define WEFT_UNDER_VALGRIND() false
#endif

#include <weft/faults/faults.h>
#include <weft/fibers/monitor.h>
#include <weft/fibers/scheduler.h>
#include <weft/fibers/trace.h>
#include <weft/fibers/trace_buffer.h>
#include <weft/fibers/worker.h>
#include <weft/epoll/epoll.h>
#include <weft/uring/ring.h>

namespace weft {
namespace {

std::string explain_setup_failure(std::error_code e) {
  std::string why = "weft: io_uring is unavailable: ";
  switch (e.value()) {
    case ENOSYS:
      return why + "this kernel has no io_uring (ENOSYS)";
    case EPERM:
      return why +
             "it is forbidden here (EPERM): kernel.io_uring_disabled is set or a seccomp "
             "filter blocks io_uring_setup";
    case ENOMEM:
      return why +
             "the ring could not be allocated (ENOMEM): raise the locked-memory limit "
             "(ulimit -l) or lower RuntimeOptions::ring_entries";
    default:
      return why + "io_uring_setup failed: " + e.message();
  }
}

bool env_flag(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr && v[0] != '\0' && std::strcmp(v, "0") != 0;
}

}  // namespace

namespace {

// RuntimeOptions and the environment, resolved once, when the runtime is
// made (resolve(), below): nothing else reads either.
struct Settings {
  Mode mode = Mode::multi;  // multi or single, never automatic
  std::size_t workers = 1;
  bool pin = false;
  BackendKind backend = BackendKind::automatic;  // as asked: automatic, uring or epoll
  uring::RingOptions ring;               // every worker's ring (shared_reaping included)
  fibers::WorkerOptions worker;
  fibers::MonitorOptions monitor;
  std::string trace_path;  // empty: no trace
  std::size_t trace_mb = 0;  // per thread; 0: the trace's default
  bool print_stats = false;
};

}  // namespace

// What a Handle reaches: the scheduler of the run() under way, if any.
// Open from when every worker exists (before main is spawned) until main
// has returned, before any worker's stop phases, so everything posted
// before the gate closed is in an inbox those phases empty.
struct Handle::Gate {
  std::mutex mutex;
  fibers::Scheduler* scheduler = nullptr;  // guarded by mutex
  std::size_t next = 0;                    // round robin; guarded by mutex
};

struct Runtime::Impl {
  std::shared_ptr<Handle::Gate> gate = std::make_shared<Handle::Gate>();
  Settings settings;
  BackendKind kind = BackendKind::automatic;  // what worker 0 ended up with: uring or epoll
  std::vector<int> cpus;  // the CPUs the process may run on, for pinning
  // Worker 0's backend lives as long as the runtime: it is made (and io_uring
  // probed) on the thread that made the runtime, the one that runs run().
  std::unique_ptr<io::Backend> backend;
  std::thread::id owner;
  bool running = false;
  bool tracing = false;  // this runtime's run() began the process's trace
  Stats totals;                     // every run so far
  std::vector<Stats> last_workers;  // per worker, the last run
  std::uint64_t last_rescued = 0;
  std::uint64_t last_hogs = 0;
  std::mutex stats_mutex;
};

namespace {

BackendKind chosen_backend(BackendKind asked) {
  if (asked != BackendKind::automatic) return asked;
  const char* env = std::getenv("WEFT_BACKEND");
  if (env == nullptr || env[0] == '\0') return BackendKind::automatic;
  if (std::strcmp(env, "uring") == 0 || std::strcmp(env, "io_uring") == 0) return BackendKind::uring;
  if (std::strcmp(env, "epoll") == 0) return BackendKind::epoll;
  throw std::invalid_argument(std::string("weft: WEFT_BACKEND must be uring or epoll, not ") + env);
}

WakeMechanism chosen_wake(WakeMechanism asked) {
  if (asked != WakeMechanism::automatic) return asked;
  const char* env = std::getenv("WEFT_WAKE");
  if (env == nullptr || env[0] == '\0') return WakeMechanism::automatic;
  if (std::strcmp(env, "msg_ring") == 0) return WakeMechanism::msg_ring;
  if (std::strcmp(env, "eventfd") == 0) return WakeMechanism::eventfd;
  throw std::invalid_argument(std::string("weft: WEFT_WAKE must be msg_ring or eventfd, not ") + env);
}

// What WEFT_FAULTS did, said on stderr when a program that set it exits
// normally: "weft: WEFT_FAULTS fired: ring_enter 120, accept 7".
void say_which_faults_fired() {
  std::string line = "weft: WEFT_FAULTS fired:";
  bool any = false;
  for (int i = 0; i < faults::kSites; ++i) {
    const auto site = static_cast<faults::Site>(i);
    if (const std::uint64_t n = faults::fired(site); n > 0) {
      line += std::string(any ? ", " : " ") + faults::name(site) + " " + std::to_string(n);
      any = true;
    }
  }
  if (!any) line += " none";
  std::fprintf(stderr, "%s\n", line.c_str());
}

// WEFT_FAULTS (faults/faults.h): armed when a Runtime is made, once per
// value, so that a program making several runtimes counts its calls
// across them.
void arm_faults_from_environment() {
  static std::mutex mutex;
  static std::string armed;  // the value last armed
  const char* env = std::getenv("WEFT_FAULTS");
  if (env == nullptr || env[0] == '\0') return;
  std::lock_guard<std::mutex> hold(mutex);
  if (armed == env) return;
  if (std::string why = faults::arm_from(env); !why.empty()) throw std::invalid_argument("weft: " + why);
  if (armed.empty()) std::atexit(say_which_faults_fired);
  armed = env;
}

std::unique_ptr<io::Backend> make_epoll(bool shared_reaping) {
  Result<std::unique_ptr<epoll::EpollBackend>> epoll = epoll::EpollBackend::create(shared_reaping);
  if (!epoll) throw std::system_error(epoll.error(), "weft: cannot set up epoll");
  return std::move(*epoll);
}

std::unique_ptr<io::Backend> make_backend(const Settings& settings, BackendKind want) {
  const bool shared_reaping = settings.ring.shared_reaping;
  if (want == BackendKind::epoll) return make_epoll(shared_reaping);
  // Valgrind (3.19) does not emulate io_uring well enough: a program on the
  // ring hangs and ignores signals. Chosen once, by worker 0 (the others
  // follow what it got).
  if (want == BackendKind::automatic && WEFT_UNDER_VALGRIND()) {
    std::fprintf(stderr, "weft: running under valgrind, which cannot run io_uring: running on epoll\n");
    return make_epoll(shared_reaping);
  }
  Result<std::unique_ptr<uring::Ring>> ring = uring::Ring::create(settings.ring);
  if (ring) return std::move(*ring);
  const std::string why = explain_setup_failure(ring.error());
  if (want == BackendKind::uring) throw std::system_error(ring.error(), why);
  std::fprintf(stderr, "%s; running on epoll\n", why.c_str());
  return make_epoll(shared_reaping);
}

std::vector<int> allowed_cpus() {
  std::vector<int> cpus;
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0) {
    for (int c = 0; c < CPU_SETSIZE; ++c) {
      if (CPU_ISSET(c, &set)) cpus.push_back(c);
    }
  }
  if (cpus.empty()) cpus.push_back(0);
  return cpus;
}

Mode chosen_mode(Mode asked) {
  if (asked != Mode::automatic) return asked;
  const char* env = std::getenv("WEFT_MODE");
  if (env == nullptr || env[0] == '\0' || std::strcmp(env, "multi") == 0) return Mode::multi;
  if (std::strcmp(env, "single") == 0) return Mode::single;
  throw std::invalid_argument(std::string("weft: WEFT_MODE must be multi or single, not ") + env);
}

std::size_t worker_count(const RuntimeOptions& options, Mode mode, std::size_t cpus) {
  if (mode == Mode::single && options.workers > 1) {
    throw std::invalid_argument("weft: single mode runs one worker, but RuntimeOptions::workers is " +
                                std::to_string(options.workers));
  }
  if (options.workers != 0) return options.workers;
  if (const char* env = std::getenv("WEFT_WORKERS"); env != nullptr && env[0] != '\0') {
    const long n = std::strtol(env, nullptr, 10);
    if (n < 1 || n > 1024) {
      throw std::invalid_argument(std::string("weft: WEFT_WORKERS must be 1 to 1024, not ") + env);
    }
    if (mode == Mode::single && n > 1) {
      std::fprintf(stderr, "weft: single mode runs one worker; WEFT_WORKERS=%s ignored\n", env);
      return 1;
    }
    return static_cast<std::size_t>(n);
  }
  return mode == Mode::single ? 1 : cpus;
}

void pin_to(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

}  // namespace

struct Bindings {
  Bindings(fibers::Worker& w, io::Backend* b) : worker(w), backend(b) {}
  fibers::Worker::Binding worker;
  io::BackendBinding backend;
};

// One run(): the scheduler, worker 0 on the calling thread, and the threads of
// the other workers, each of which makes its own backend (a ring accepts
// submissions from the thread that made it).
// While a run() lasts, its threads block SIGPIPE: a write to a pipe whose
// reader is gone is EPIPE (a socket's is too, through MSG_NOSIGNAL), never a
// signal that ends the process. Worker threads and the blocking pool's
// inherit the mask; the thread that called run() gets its own back, with a
// SIGPIPE that arrived meanwhile dropped (it was answered as EPIPE).
class PipeSignalBlocked {
 public:
  PipeSignalBlocked() {
    sigemptyset(&pipe_);
    sigaddset(&pipe_, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_, &saved_);
  }
  ~PipeSignalBlocked() {
    if (sigismember(&saved_, SIGPIPE) == 1) return;  // blocked before: the caller's business
    const timespec now{};
    while (sigtimedwait(&pipe_, nullptr, &now) == SIGPIPE) {
    }
    pthread_sigmask(SIG_UNBLOCK, &pipe_, nullptr);
  }
  PipeSignalBlocked(const PipeSignalBlocked&) = delete;
  PipeSignalBlocked& operator=(const PipeSignalBlocked&) = delete;

 private:
  sigset_t pipe_{};
  sigset_t saved_{};
};

struct Runtime::Run {
  explicit Run(Impl& runtime)
      : impl(runtime), settings(runtime.settings),
        scheduler(settings.workers, alloc::StackPoolOptions{}.guard_bytes) {
    start_trace();
    worker0 = std::make_unique<fibers::Worker>(*impl.backend, scheduler, 0, settings.worker);
    bindings = std::make_unique<Bindings>(*worker0, impl.backend.get());
    stats.resize(settings.workers);
    for (std::size_t i = 1; i < settings.workers; ++i) threads.emplace_back([this, i] { serve(i); });
    attached.wait();  // no fiber runs before every worker exists
    // Before main is spawned: another worker may take main and run it
    // before this thread reaches drive().
    open_gate(&scheduler);
    if (settings.monitor.hog_threshold.count() > 0 || settings.monitor.rescue_after.count() > 0) {
      monitor = std::make_unique<fibers::Monitor>(scheduler, settings.monitor);
    }
  }

  // WEFT_TRACE or the option: a trace of this run() (fibers/trace.h), begun
  // before any worker exists. A path that cannot be written, or another
  // run() tracing, gets a line on stderr and the run goes on untraced.
  void start_trace() {
    const std::string& path = settings.trace_path;
    if (path.empty()) return;
    std::string why;
    impl.tracing = fibers::trace::begin(path, &scheduler, &why, settings.trace_mb);
    if (!impl.tracing) std::fprintf(stderr, "weft: not tracing: %s\n", why.c_str());
  }

  void open_gate(fibers::Scheduler* s) {
    std::lock_guard<std::mutex> lock(impl.gate->mutex);
    impl.gate->scheduler = s;
  }

  // Before any worker's stop phases: a rescue touches rings.
  void stop_monitor() {
    if (monitor == nullptr) return;
    rescued = monitor->rescued();
    hogs = monitor->hogs_reported();
    monitor.reset();
  }

  void serve(std::size_t index) {
    if (settings.pin) pin_to(impl.cpus[index % impl.cpus.size()]);
    std::unique_ptr<io::Backend> backend;
    try {
      backend = make_backend(settings, impl.kind);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "weft: worker %zu: %s; running on epoll\n", index, e.what());
      backend = make_epoll(settings.ring.shared_reaping);
    }
    fibers::Worker worker(*backend, scheduler, index, settings.worker);
    attached.count_down();
    {
      Bindings bound(worker, backend.get());
      worker.run();
      worker.stop(/*leader=*/false);
      stats[index] = worker.snapshot();
    }
  }

  // On the calling thread: worker 0 runs until main finishes, then leads the
  // stop (fibers/scheduler.h, "Stopping").
  void drive(fibers::Fiber* main) {
    scheduler.watch_main(main);
    std::exception_ptr failure;
    try {
      worker0->run();
    } catch (...) {
      failure = std::current_exception();
      scheduler.begin_stop();
    }
    // Worker 0 has not begun its stop phases, so no worker is past the first
    // barrier: whatever was posted is still to be taken.
    open_gate(nullptr);
    stop_monitor();
    worker0->stop(/*leader=*/true);
    stats[0] = worker0->snapshot();
    for (std::thread& t : threads) t.join();
    threads.clear();
    if (failure) std::rethrow_exception(failure);
    if (!scheduler.deadlock().empty()) throw std::runtime_error(scheduler.deadlock());
  }

  ~Run() {
    open_gate(nullptr);  // drive() may never have run (spawning main threw)
    if (!threads.empty()) {  // drive() never ran: stop the others
      scheduler.begin_stop();
      stop_monitor();
      worker0->stop(/*leader=*/true);
      for (std::thread& t : threads) t.join();
    }
    stop_monitor();
    bindings.reset();
    worker0.reset();
    std::lock_guard<std::mutex> lock(impl.stats_mutex);
    impl.last_workers = stats;
    for (const Stats& s : stats) impl.totals += s;
    impl.last_rescued = rescued;
    impl.last_hogs = hogs;
  }

  PipeSignalBlocked pipe_signal;  // first: before any thread starts
  Impl& impl;
  const Settings& settings;
  fibers::Scheduler scheduler;
  std::latch attached{static_cast<std::ptrdiff_t>(settings.workers) - 1};
  std::unique_ptr<fibers::Worker> worker0;
  std::unique_ptr<Bindings> bindings;
  std::vector<std::thread> threads;
  std::vector<Stats> stats;
  std::unique_ptr<fibers::Monitor> monitor;
  std::uint64_t rescued = 0;
  std::uint64_t hogs = 0;
};

// Every getenv of the runtime is here: an explicit option wins, then the
// environment, then the default.
static Settings resolve(const RuntimeOptions& options, std::size_t cpus) {
  Settings s;
  s.mode = chosen_mode(options.mode);
  s.workers = worker_count(options, s.mode, cpus);
  s.pin = options.pin || env_flag("WEFT_PIN");
  s.backend = chosen_backend(options.backend);
  s.monitor.hog_threshold = options.hog_threshold;
  if (const char* env = std::getenv("WEFT_HOG_MS"); env != nullptr && env[0] != '\0') {
    s.monitor.hog_threshold = std::chrono::milliseconds(std::strtol(env, nullptr, 10));
  }
  // Several workers and rescue on: rings others may reap (fibers/monitor.h).
  s.monitor.rescue_after = s.workers > 1 ? options.rescue_after : std::chrono::milliseconds{};
  s.worker.default_stack_size = options.default_stack_size;
  s.worker.detect_deadlock = options.detect_deadlock;
  s.worker.deadlock_report = options.deadlock_report;
  if (const char* env = std::getenv("WEFT_DEADLOCK_REPORT_MS"); env != nullptr && env[0] != '\0') {
    s.worker.deadlock_report = std::chrono::milliseconds(std::strtol(env, nullptr, 10));
  }
  s.worker.shuffle = options.shuffle || env_flag("WEFT_SHUFFLE");
  s.worker.idle_spin = options.idle_spin;
  s.worker.exit_wait = options.exit_wait;
  if (const char* env = std::getenv("WEFT_IDLE_SPIN_US"); env != nullptr && env[0] != '\0') {
    s.worker.idle_spin = std::chrono::microseconds(std::strtol(env, nullptr, 10));
  }
  uring::RingOptions& r = s.ring;
  r.shared_reaping = s.monitor.rescue_after.count() > 0;
  r.entries = options.ring_entries;
  r.defer_taskrun = options.defer_taskrun;
  r.single_issuer = options.single_issuer;
  r.register_ring_fd = options.register_ring_fd;
  r.multishot_accept = options.multishot_accept;
  r.waitid = options.waitid;
  r.wake = chosen_wake(options.wake);
  r.send_zc_min = options.send_zc_min;
  r.provided_buffers = options.provided_buffers;
  if (const char* env = std::getenv("WEFT_PROVIDED_BUFFERS"); env != nullptr && env[0] != '\0') {
    r.provided_buffers = static_cast<unsigned>(std::strtoul(env, nullptr, 10));
  }
  if (const char* env = std::getenv("WEFT_SEND_ZC"); env != nullptr && env[0] != '\0') {
    r.send_zc_min = static_cast<std::size_t>(std::strtoull(env, nullptr, 10));
  }
  s.trace_path = options.trace_path;
  if (const char* env = std::getenv("WEFT_TRACE"); env != nullptr && env[0] != '\0') s.trace_path = env;
  if (const char* env = std::getenv("WEFT_TRACE_MB"); env != nullptr && env[0] != '\0') {
    s.trace_mb = static_cast<std::size_t>(std::max(1L, std::strtol(env, nullptr, 10)));
  }
  s.print_stats = options.print_stats || env_flag("WEFT_STATS");
  arm_faults_from_environment();
  return s;
}

Runtime::Runtime(const RuntimeOptions& options) : impl_(std::make_unique<Impl>()) {
  impl_->owner = std::this_thread::get_id();
  impl_->cpus = allowed_cpus();
  impl_->settings = resolve(options, impl_->cpus.size());
  impl_->backend = make_backend(impl_->settings, impl_->settings.backend);
  impl_->kind = std::strcmp(impl_->backend->name(), "epoll") == 0 ? BackendKind::epoll : BackendKind::uring;
  if (impl_->settings.pin) pin_to(impl_->cpus[0]);
  fibers::install_fault_reporting();
}

Runtime::~Runtime() { impl_->backend.reset(); }

const RingFeatures& Runtime::features() const {
  static const RingFeatures none{};  // all off: not a ring
  return impl_->kind == BackendKind::uring ? static_cast<const uring::Ring&>(*impl_->backend).features()
                                       : none;
}
const char* Runtime::backend_name() const { return impl_->backend->name(); }

Handle Runtime::handle() const { return Handle(impl_->gate); }

namespace {
struct Posted {
  void (*start)(void* job, bool run) noexcept;
  void* job;
};
}  // namespace

bool Handle::post(void (*start)(void* job, bool run) noexcept, void* job) const {
  if (gate_ == nullptr) return false;
  std::lock_guard<std::mutex> lock(gate_->mutex);
  fibers::Scheduler* s = gate_->scheduler;
  if (s == nullptr || s->stopping()) return false;
  auto* posted = new Posted{start, job};
  fibers::Worker* w = s->worker(gate_->next++ % s->size());
  // Runs on the worker's thread, outside any fiber; during the stop phases
  // too, when it starts nothing.
  w->post(
      [](void* p) {
        std::unique_ptr<Posted> one(static_cast<Posted*>(p));
        fibers::Worker* me = fibers::Worker::current();
        one->start(one->job, me != nullptr && !me->scheduler().stopping());
      },
      posted);
  return true;
}

void Handle::report_failed_start(const char* what) noexcept {
  std::fprintf(stderr, "weft: weft::Handle::spawn could not start its fiber: %s\n", what);
}
std::string Runtime::describe_backend() const { return impl_->backend->describe(); }
std::size_t Runtime::workers() const { return impl_->settings.workers; }
Mode Runtime::mode() const { return impl_->settings.mode; }
const char* Runtime::mode_name() const { return impl_->settings.mode == Mode::single ? "single" : "multi"; }

Stats Runtime::last_stats() const {
  std::lock_guard<std::mutex> lock(impl_->stats_mutex);
  return impl_->totals;
}

std::uint64_t Runtime::last_rescued() const {
  std::lock_guard<std::mutex> lock(impl_->stats_mutex);
  return impl_->last_rescued;
}

std::uint64_t Runtime::last_hogs_reported() const {
  std::lock_guard<std::mutex> lock(impl_->stats_mutex);
  return impl_->last_hogs;
}

std::vector<Stats> Runtime::worker_stats() const {
  std::lock_guard<std::mutex> lock(impl_->stats_mutex);
  return impl_->last_workers;
}

Runtime::Session::Session(Runtime& rt) : rt_(rt), run_(nullptr) {
  Impl& impl = *rt.impl_;
  if (impl.running) throw std::logic_error("weft::Runtime::run: this runtime is already running");
  if (fibers::Worker::current() != nullptr) {
    throw std::logic_error("weft::Runtime::run: this thread is already running a weft runtime");
  }
  if (std::this_thread::get_id() != impl.owner) {
    throw std::logic_error(
        "weft::Runtime::run must be called on the thread that created the runtime (its ring "
        "accepts submissions from that thread only)");
  }
  impl.running = true;
  try {
    run_ = new Run(impl);
  } catch (...) {
    if (impl.tracing) fibers::trace::end();
    impl.tracing = false;
    impl.running = false;
    throw;
  }
}

Runtime::Session::~Session() {
  delete run_;
  Impl& impl = *rt_.impl_;
  impl.running = false;
  if (impl.tracing) fibers::trace::end();
  impl.tracing = false;
  if (impl.settings.print_stats) {
    std::fprintf(stderr, "weft: %s, %zu worker%s%s\n%s", impl.backend->describe().c_str(),
                 impl.settings.workers, impl.settings.workers == 1 ? "" : "s",
                 impl.settings.mode == Mode::single ? " (single mode)" : "", format_stats(impl.totals).c_str());
  }
}

void Runtime::Session::drive(fibers::Fiber* main) { run_->drive(main); }

}  // namespace weft
