// weft/sync/graceful_stop.h — stopping a service without losing what it had begun.
//
//   weft::GracefulStop stop;
//   // accept loop:      listener.accept({.cancel = stop.stopping()})
//   // each connection:  auto work = stop.begin_work();
//   //                   idle waits with {.cancel = stop.stopping()},
//   //                   a request under way with {.cancel = stop.cutting()}
//   // on SIGTERM:       auto report = stop.stop(std::chrono::seconds(10));
//
// Three steps, as Go's http.Server.Shutdown and Kubernetes' termination
// grace expect. stop():
//   1. cancels stopping(): accept loops end (no new work is taken) and
//      whatever waits idle for more (a kept-alive connection between
//      requests) gives up;
//   2. waits, up to `grace`, for every piece of work under way (each
//      begin_work() until its Work ends) to finish on its own;
//   3. then cancels cutting(), so what is still under way returns
//      operation_canceled from its next wait, and waits for it to end.
// It returns what happened (how many finished in the grace period, how many
// were cut off). A Work begun after the stop began counts too (it should
// look at stop_begun() and end soon).
//
// Thread rules: any fiber, on any worker; stop() from one fiber, once.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

#include <weft/fibers/cancel.h>
#include <weft/sync/wait_group.h>

namespace weft {

class GracefulStop {
 public:
  // A piece of work under way, counted until it is destroyed (movable).
  class Work {
   public:
    Work() = default;
    Work(Work&& other) noexcept : owner_(other.owner_) { other.owner_ = nullptr; }
    Work& operator=(Work&& other) noexcept;
    ~Work() { end(); }
    // Ends it now (the destructor does it otherwise).
    void end();

   private:
    friend class GracefulStop;
    explicit Work(GracefulStop* owner) : owner_(owner) {}
    GracefulStop* owner_ = nullptr;
  };

  struct Report {
    std::uint64_t finished = 0;  // work under way at the stop that ended by itself within the grace
    std::uint64_t cut_off = 0;   // work still under way when the grace ended
    std::chrono::milliseconds took{0};
  };

  GracefulStop() = default;
  GracefulStop(const GracefulStop&) = delete;
  GracefulStop& operator=(const GracefulStop&) = delete;

  CancelToken* stopping() { return &stopping_; }
  CancelToken* cutting() { return &cutting_; }
  bool stop_begun() const { return stopping_.cancelled(); }

  Work begin_work();
  std::uint64_t in_flight() const { return static_cast<std::uint64_t>(work_.count()); }

  // The three steps above. Returns once no Work is left.
  Report stop(std::chrono::milliseconds grace);

 private:
  CancelToken stopping_;
  CancelToken cutting_;
  WaitGroup work_;
};

}  // namespace weft
