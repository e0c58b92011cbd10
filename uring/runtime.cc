#include <weft/uring/runtime.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>

#include <weft/fibers/worker.h>
#include <weft/uring/epoll.h>
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

struct Runtime::Impl {
  RuntimeOptions options;
  std::unique_ptr<uring::Backend> backend;
  std::unique_ptr<fibers::Worker> worker;
  std::thread::id owner;
  bool running = false;
};

struct Bindings {
  Bindings(fibers::Worker& w, uring::Backend* b) : worker(w), backend(b) {}
  fibers::Worker::Binding worker;
  uring::BackendBinding backend;
};

namespace {

Backend chosen_backend(Backend asked) {
  if (asked != Backend::automatic) return asked;
  const char* env = std::getenv("WEFT_BACKEND");
  if (env == nullptr || env[0] == '\0') return Backend::automatic;
  if (std::strcmp(env, "uring") == 0 || std::strcmp(env, "io_uring") == 0) return Backend::uring;
  if (std::strcmp(env, "epoll") == 0) return Backend::epoll;
  throw std::invalid_argument(std::string("weft: WEFT_BACKEND must be uring or epoll, not ") + env);
}

std::unique_ptr<uring::Backend> make_epoll() {
  Result<std::unique_ptr<uring::EpollBackend>> epoll = uring::EpollBackend::create();
  if (!epoll) throw std::system_error(epoll.error(), "weft: cannot set up epoll");
  return std::move(*epoll);
}

std::unique_ptr<uring::Backend> make_backend(const RuntimeOptions& options) {
  const Backend want = chosen_backend(options.backend);
  if (want == Backend::epoll) return make_epoll();
  uring::RingOptions ring_options;
  ring_options.entries = options.ring_entries;
  ring_options.defer_taskrun = options.defer_taskrun;
  ring_options.single_issuer = options.single_issuer;
  ring_options.register_ring_fd = options.register_ring_fd;
  ring_options.multishot_accept = options.multishot_accept;
  Result<std::unique_ptr<uring::Ring>> ring = uring::Ring::create(ring_options);
  if (ring) return std::move(*ring);
  const std::string why = explain_setup_failure(ring.error());
  if (want == Backend::uring) throw std::system_error(ring.error(), why);
  std::fprintf(stderr, "%s; running on epoll\n", why.c_str());
  return make_epoll();
}

}  // namespace

Runtime::Runtime(const RuntimeOptions& options) : impl_(std::make_unique<Impl>()) {
  impl_->options = options;
  impl_->owner = std::this_thread::get_id();
  impl_->backend = make_backend(options);
  fibers::WorkerOptions worker_options;
  worker_options.default_stack_size = options.default_stack_size;
  impl_->worker = std::make_unique<fibers::Worker>(*impl_->backend, worker_options);
}

Runtime::~Runtime() {
  // The worker may still hold abandoned fibers' stacks; it goes before the backend.
  impl_->worker.reset();
  impl_->backend.reset();
}

const RingFeatures& Runtime::features() const { return impl_->backend->features(); }
const char* Runtime::backend_name() const { return impl_->backend->name(); }
std::string Runtime::describe_backend() const { return impl_->backend->describe(); }

Stats Runtime::last_stats() const { return impl_->worker->snapshot(); }

Runtime::Session::Session(Runtime& rt) : rt_(rt), bindings_(nullptr) {
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
  bindings_ = new Bindings(*impl.worker, impl.backend.get());
}

Runtime::Session::~Session() {
  delete static_cast<Bindings*>(bindings_);
  Impl& impl = *rt_.impl_;
  impl.running = false;
  if (impl.options.print_stats || env_flag("WEFT_STATS")) {
    std::fprintf(stderr, "weft: %s\n%s", impl.backend->describe().c_str(),
                 format_stats(impl.worker->snapshot()).c_str());
  }
}

void Runtime::Session::drive(fibers::Fiber* main) {
  fibers::Worker& worker = *rt_.impl_->worker;
  try {
    worker.run(main);
  } catch (...) {
    worker.stop();
    throw;
  }
  worker.stop();
}

}  // namespace weft
