// weft/uring/runtime.h — the entry point: a worker, its ring, and run().
//
//   int main() {
//     weft::Runtime rt;
//     return rt.run([] { ... straight-line blocking code ... return 0; });
//   }
//
// run() turns the calling thread into a worker, runs `main` as the first
// fiber and returns its value (or rethrows its exception) once it finishes.
// Fibers still parked when `main` returns are abandoned, as goroutines are
// when Go's main returns: their I/O is cancelled and their stacks freed
// without unwinding, and their join handles report the abandonment. Join
// what you spawn if its destructors must run.
//
// Environment: WEFT_STATS=1 prints the runtime's counters when run() ends.
//
// Thread rules: one run() at a time per Runtime, on any one thread; a thread
// runs one Runtime at a time.
#pragma once

#include <cstddef>
#include <memory>
#include <type_traits>
#include <utility>

#include <weft/fibers/spawn.h>
#include <weft/fibers/stats.h>
#include <weft/uring/features.h>

namespace weft {

struct RuntimeOptions {
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
  // Print the counters when run() ends (also WEFT_STATS=1).
  bool print_stats = false;
};

class Runtime {
 public:
  // Sets up the ring. Throws std::system_error with the reason (and what to
  // do about it) when io_uring is unavailable.
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

  const RingFeatures& features() const;
  // The counters as they stood when the last run() ended.
  Stats last_stats() const;

 private:
  struct Impl;
  // Binds the worker and ring to the calling thread for one run().
  class Session {
   public:
    explicit Session(Runtime& rt);
    ~Session();
    Session(const Session&) = delete;
    Session& operator=(const Session&) = delete;
    // Runs rounds until `main` finishes, then abandons what is left.
    void drive(fibers::Fiber* main);

   private:
    Runtime& rt_;
    void* bindings_;
  };
  std::unique_ptr<Impl> impl_;
};

}  // namespace weft
