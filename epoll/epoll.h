// The epoll backend: the same Backend interface as the Ring, over readiness.
//
// What it does
//   Sockets and pipes: the operation's system call is tried at once
//   (MSG_DONTWAIT, or a non-blocking descriptor). If it would block, the
//   operation waits in its descriptor's reader or writer list, and the
//   backend retries it when epoll reports the descriptor ready; the fiber is
//   readied when the call finally succeeds or fails.
//   Regular files: a read or write is first tried with RWF_NOWAIT, which
//   answers from the page cache at once; otherwise (and for open, stat,
//   fsync) the blocking pool runs the system call, as libuv does: epoll has
//   no notion of disk readiness. Such jobs are handed to the pool by the
//   park's commit, once their fibers have switched out (io/io.cc).
//   Deadlines and cancellation of waiting operations: scheduler timers and
//   cancel tokens. Wake-ups from other threads: an eventfd in the set.
//
// Invariants
//   1. Owned by one worker; only its thread touches the epoll set, the
//      descriptor table and the wait lists (but see "Rescue").
//   2. Each descriptor the backend has used has one FdState, registered once
//      (EPOLLIN|EPOLLOUT|EPOLLRDHUP|EPOLLET) and dropped when weft closes the
//      descriptor (the operations still waiting on it end with -ECANCELED).
//   3. Each direction of a descriptor (a Side: its waiting operations and a
//      ready flag) is ready once an event says so, until the
//      EAGAIN that ends a retry; an operation parks only after its own
//      attempt returned EAGAIN (or behind others already waiting), so an
//      edge between the attempt and the park is never lost.
//   4. Operations on one descriptor and direction complete in arrival order.
//   5. A file operation on the pool cannot be interrupted: its deadline and
//      cancellation apply only while it waits on a descriptor.
//
// Rescue (shared_reaping: several workers, and the monitor's rescue on)
//   While the owner runs one fiber for long, the monitor may call rescue()
//   from its own thread: it asks epoll, without waiting, which descriptors
//   became ready and runs their waiting operations as retry() would,
//   readying the finished fibers through the global queue so other workers
//   run them. The owner holds mutex_ in every call that touches the
//   descriptor table or the wait lists, across its epoll wait too, and a
//   rescue only try-locks it, so the two never overlap (and a rescue never
//   runs while the owner sleeps in epoll). A rescue leaves a descriptor to
//   the owner (owed_, in order, retried at its next poll) when the first
//   operation waiting there is one it may not finish:
//     - linked since the owner's last poll began and since the last I/O
//       park's commit: its fiber may not have switched out yet. (Polls run
//       on the home context, after the round's fibers parked; park_committed()
//       counts commits, each after its fiber switched out. So a wait
//       linked in the busy fiber's own round, by a fiber that then parked,
//       is finished by the rescue: the hog that followed it in the round
//       does not hold it up.)
//   An operation watched by a cancel token is finished too, taken off the
//   watch list under its lock (Backend::RescueHold); if the owner holds that
//   lock right now, the descriptor is left to the owner as above.
//   Deadlines of waiting operations are scheduler timers marked any_thread:
//   the monitor fires them too (Worker::rescue_arrivals), and their
//   callback, off the owner's thread, try-locks mutex_ and the watch list
//   and ends the wait as a rescue would (expire_elsewhere); if either is
//   held, or the fiber may not have switched out yet, it adds the timer
//   back for the next tick or the owner. A rescue also serves cancels asked
//   from other threads (Backend::request_cancel), whose posted scans would
//   otherwise wait in the busy owner's inbox. The wake eventfd is
//   level-triggered: a rescue leaves it for the owner (the inbox it
//   announces is rescued by the monitor: Worker::rescue_arrivals).
//
// Thread rules: owner worker only, except wake() (any thread) and rescue()
// (the monitor).
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include <weft/fibers/result.h>
#include <weft/io/backend.h>
#include <weft/io/wake_flag.h>

namespace weft::epoll {

class EpollBackend final : public io::Backend {
 public:
  // epoll_create1 and the wake eventfd. Errors: their errno.
  // `shared_reaping`: rescue() may run (see "Rescue" above).
  static Result<std::unique_ptr<EpollBackend>> create(bool shared_reaping = false);
  ~EpollBackend() override;

  // fibers::Poller
  void poll(bool block, Deadline wake_by, Stats& stats) override;
  bool busy() const override { return waiting_.load(std::memory_order_relaxed) != 0; }
  void wake() override;
  std::size_t rescue(fibers::Scheduler& scheduler) override;
  bool cancel_all(Stats& stats) override;
  bool drain(Stats& stats) override;

  // Backend
  bool submit(io::Operation& op) override;
  // Counts I/O park commits, for the rescue (see "Rescue").
  void park_committed() override { parks_.store(parks_.load(std::memory_order_relaxed) + 1, std::memory_order_release); }
  void cancel(io::Operation& op) override;
  io::Listener* open_listener(int fd) override;
  void close_listener(io::Listener* listener) override;
  void close_in_background(int fd) override;
  void forget(int fd) override;
  void retire_fd(int fd) override;
  const char* name() const override { return "epoll"; }
  std::string describe() const override;

 private:
  struct Side;
  struct FdState;
  class EpollListener;
  explicit EpollBackend(bool shared_reaping) : shared_(shared_reaping) { wants_park_commits = shared_reaping; }

  // The owner's hold on mutex_ (none when no rescue can happen). Every
  // function below it expects it held.
  std::unique_lock<std::mutex> guard() {
    return shared_ ? std::unique_lock<std::mutex>(mutex_) : std::unique_lock<std::mutex>();
  }
  FdState* state_for(int fd);
  FdState* find(int fd) const;
  void drop(int fd, int error);
  [[gnu::cold]] void wait_failed(int error, Stats& stats);
  io::Operation* pop_waiter(Side& s);
  void fail_waiters(FdState& st, int error);
  bool wait_on(FdState& st, io::Operation& op, bool write);
  void retry(FdState& st, bool write);
  std::size_t rescue_retry(FdState& st, bool write, fibers::Scheduler& scheduler,
                           RescueHold& watch);
  bool parked_for_sure(const io::Operation& op) const;
  bool end_wait_elsewhere(io::Operation& op, int error, RescueHold& watch, fibers::Timer* firing);
  void expire_elsewhere(io::Operation& op);
  void finish(io::Operation& op, std::int64_t result);
  void end_wait(io::Operation& op, int error);
  void unlink_waiter(io::Operation& op);
  void unlink_listener(EpollListener* l);
  bool submit_to_pool(io::Operation& op);
  static std::int64_t attempt(io::Operation& op);

  // Grouped by who may touch them: other threads wake it (wake_fd_,
  // wake_flag_: set up by the owner before any other thread sees it); the
  // rescuer takes mutex_; the rest is the owner's, under mutex_ when a
  // rescue can happen (checked builds check the owner-only calls).
  int wake_fd_ = -1;        // any thread writes; registered level-triggered, drained when it fires
  io::WakeFlag wake_flag_;  // any thread; one write in flight at most
  const bool shared_;
  std::mutex mutex_;  // see "Rescue"; guards everything below when shared_
  int epoll_fd_ = -1;
  std::vector<FdState*, alloc::Allocator<FdState*>> fds_;  // by descriptor number
  std::atomic<std::size_t> waiting_{0};  // operations parked on descriptors (busy() reads it)
  std::uint64_t polls_ = 0;              // polls begun (Operation::linked_at_poll)
  std::atomic<std::uint64_t> parks_{0};  // I/O park commits (Operation::linked_at_park); owner writes
  std::vector<std::pair<int, bool>, alloc::Allocator<std::pair<int, bool>>>
      owed_;                            // (descriptor, write side) a rescue left to the owner
  EpollListener* listeners_ = nullptr;  // open ones, owned by their sockets
};

}  // namespace weft::epoll
