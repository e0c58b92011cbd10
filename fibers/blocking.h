// weft/fibers/blocking.h — running code that would block a worker.
//
//   auto addr = weft::blocking([&] { return getaddrinfo_somehow(name); });
//
// blocking(fn) runs fn on a helper thread while the calling fiber is parked;
// the worker goes on running other fibers meanwhile. It returns fn's value,
// or rethrows its exception. For work with no io_uring operation (a name
// lookup, a library that only offers blocking calls, compression).
//
// The helper threads form one bounded pool per process (16 threads unless
// WEFT_BLOCKING_THREADS says otherwise); jobs beyond that wait their turn.
// A job cannot be interrupted once it runs.
//
// Thread rules: call from a fiber. fn runs on another thread: it must not
// call weft functions that need a fiber.
#pragma once

#include <exception>
#include <new>
#include <type_traits>
#include <utility>

namespace weft {

namespace fibers {

// A job for the pool. It lives in the frame of the fiber that waits for it.
struct BlockingJob {
  void (*run)(BlockingJob* self) noexcept = nullptr;  // on a helper thread
  void* worker = nullptr;                             // set by run_blocking
  void* fiber = nullptr;
  BlockingJob* next = nullptr;
  int submit_error = 0;  // run_blocking: why the pool could not take it
};

// Parks the calling fiber until `job` has run on a helper thread. Throws
// std::logic_error outside a fiber, std::system_error (EAGAIN) when the
// pool has no thread and cannot start one.
void run_blocking(BlockingJob& job);

// For backends: hands `job` (worker and fiber set, the worker told with
// expect_remote(), the fiber switched out: the helper thread readies it
// when the job is done) to the pool. 0, or EAGAIN when the pool has no
// thread and cannot start one (nothing was queued). Any thread.
int submit_blocking(BlockingJob& job);

// Runs `job` on a helper thread with nobody parked for it (a wait that may
// give up before the job ends: resolve() with a deadline): job.run owns the
// job and frees it. 0, or EAGAIN as above. Any thread.
int submit_detached(BlockingJob& job);

}  // namespace fibers

template <class F>
auto blocking(F&& fn) -> std::invoke_result_t<F&> {
  using R = std::invoke_result_t<F&>;
  struct Job : fibers::BlockingJob {
    std::remove_reference_t<F>* fn;
    std::exception_ptr error;
    alignas(std::conditional_t<std::is_void_v<R>, char, R>) unsigned char storage[sizeof(
        std::conditional_t<std::is_void_v<R>, char, R>)];
    bool has_value = false;
  } job;
  job.fn = &fn;
  job.run = [](fibers::BlockingJob* base) noexcept {
    auto* j = static_cast<Job*>(base);
    try {
      if constexpr (std::is_void_v<R>) {
        (*j->fn)();
      } else {
        ::new (static_cast<void*>(j->storage)) R((*j->fn)());
        j->has_value = true;
      }
    } catch (...) {
      j->error = std::current_exception();
    }
  };
  fibers::run_blocking(job);
  if (job.error) std::rethrow_exception(job.error);
  if constexpr (!std::is_void_v<R>) {
    R* value = std::launder(reinterpret_cast<R*>(job.storage));
    R result = std::move(*value);
    value->~R();
    return result;
  }
}

}  // namespace weft
