// The io_uring backend: one Ring per worker.
//
// What it does
//   Fibers call submit() with an Operation; the Ring fills a submission queue
//   entry (SQE) whose user_data points at the Operation and returns at once,
//   and the fiber parks. Nothing reaches the kernel yet. At the end of the
//   scheduling round the worker calls poll(), which hands every queued SQE to
//   the kernel and collects every ready completion (CQE) in at most one
//   io_uring_enter. Each CQE readies the fiber its Operation names.
//
// Invariants
//   1. Owned by one worker; only its thread touches the ring (the ring is set
//      up with IORING_SETUP_SINGLE_ISSUER where the kernel has it, which makes
//      the kernel enforce this) - except a ring the monitor may rescue
//      (shared_reaping): the monitor then reaps and submits too, under
//      reap_mutex_, and the ring has no SINGLE_ISSUER. Requests the monitor
//      submits are its thread's in the kernel: their task work runs there,
//      and they are cancelled if the monitor exits first (only at shutdown).
//   2. user_data = address of the record | tag (records are 8-byte aligned):
//        kTagOperation  the Operation's own completion
//        kTagTimeout    its linked timeout (the record waits for both)
//        kTagListener   a Listener's multishot accept
//        kTagIgnore     fire-and-forget requests (cancels, closes)
//        kTagWake       a wake-up: a MSG_RING another thread posted, or the
//                       read armed on the wake eventfd (see wake())
//   3. in_flight_ counts the CQEs still owed to us (a multishot request owes
//      one until a CQE arrives without IORING_CQE_F_MORE). An Operation is
//      freed by its fiber only after all its CQEs arrived, so the kernel
//      never writes into freed memory.
//   4. SQEs are handed over before CQEs are read, in the same enter; so a
//      cancel queued during a round always reaches the kernel while its
//      target's record is alive.
//
// The enter protocol (poll)
//   1. Publish queued SQEs (advance the SQ tail).
//   2. Enter only if there is something to submit, completions to flush
//      (IORING_SQ_TASKRUN / IORING_SQ_CQ_OVERFLOW) or nothing to run (block,
//      with the next timer as the timeout through IORING_ENTER_EXT_ARG).
//   3. Read every CQE, then advance the CQ head once.
//   With IORING_SETUP_DEFER_TASKRUN completions are posted only inside our
//   own enter, so step 2's flag check is what keeps an idle-looking ring
//   from hiding finished work.
//
// Set-up tries the best flag set first and drops optional flags one at a
// time (DEFER_TASKRUN, then SINGLE_ISSUER, then the rest) until the kernel
// accepts; every optional feature is probed once and recorded in features().
#pragma once

#include <liburing.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <vector>

#include <weft/alloc/heap.h>
#include <weft/fibers/result.h>
#include <weft/io/backend.h>
#include <weft/io/wake_flag.h>
#include <weft/uring/features.h>
#include <weft/uring/provided_buffers.h>

namespace weft::uring {
class RingListener;
}

namespace weft::uring {

struct RingOptions {
  unsigned entries = 1024;    // SQ size; the CQ gets twice as many
  bool defer_taskrun = true;  // use DEFER_TASKRUN if the kernel has it
  bool single_issuer = true;
  bool register_ring_fd = true;
  bool multishot_accept = true;
  bool waitid = true;  // IORING_OP_WAITID where the kernel has it
  // Another thread may reap this ring while its owner is busy (rescue()):
  // every enter and reap takes reap_mutex_, and DEFER_TASKRUN is not used
  // (it posts completions only inside the owner's own enter).
  bool shared_reaping = false;
  // How other threads wake this ring (features.h). automatic: MSG_RING if
  // the kernel takes a ring-less one, else eventfd; msg_ring also falls back
  // (features().msg_ring_wake says what the ring uses).
  WakeMechanism wake = WakeMechanism::automatic;
  // Sends of at least this many bytes use IORING_OP_SEND_ZC (the kernel
  // sends from the caller's pages instead of copying them; the send then
  // completes twice). 0: never.
  std::size_t send_zc_min = 0;
  // Socket receives without a deadline take their data from a ring of this
  // many provided buffers of 16 KiB (a power of two; the data is then copied
  // into the caller's buffer). 0: off.
  unsigned provided_buffers = 0;
};

class Ring final : public io::Backend {
 public:
  // Sets up a ring on the calling thread. Errors: the errno of
  // io_uring_setup for the plainest flag set (ENOSYS, EPERM, ENOMEM, ...).
  static Result<std::unique_ptr<Ring>> create(const RingOptions& options);
  ~Ring() override;

  // fibers::Poller
  void poll(bool block, Deadline wake_by, Stats& stats) override;
  bool busy() const override { return in_flight_ != 0; }
  bool has_completions() const override;
  void wake() override;
  bool cancel_all(Stats& stats) override;
  bool drain(Stats& stats) override;
  std::size_t rescue(fibers::Scheduler& scheduler) override;

  // Backend
  void park_committed() override { prepared_tail_.store(ring_.sq.sqe_tail, std::memory_order_release); }
  bool submit(io::Operation& op) override;
  void cancel(io::Operation& op) override;
  io::Listener* open_listener(int fd) override;
  void close_listener(io::Listener* listener) override;
  void close_in_background(int fd) override;
  void retire_fd(int fd) override;
  const char* name() const override { return "io_uring"; }
  std::string describe() const override { return features_.describe(); }
  const RingFeatures& features() const { return features_; }

  // Owner only. A request whose completion nobody waits for.
  io_uring_sqe* fire_and_forget();
  // Owner only. A free SQE, or null when the queue is full (never submits).
  io_uring_sqe* try_get_sqe() { return io_uring_get_sqe(&ring_); }

 private:
  friend class RingListener;
  static constexpr std::uint64_t kTagOperation = 0;
  static constexpr std::uint64_t kTagTimeout = 1;
  static constexpr std::uint64_t kTagListener = 2;
  static constexpr std::uint64_t kTagIgnore = 3;
  static constexpr std::uint64_t kTagWake = 4;
  static constexpr std::uint64_t kTagMask = 7;

  Ring() = default;
  void probe();
  // Makes room for `n` SQEs (submits early when the queue is full), so the
  // next n io_uring_get_sqe calls succeed.
  void reserve(unsigned n);
  io_uring_sqe* get_sqe();
  void prepare(io_uring_sqe* sqe, io::Operation& op);
  unsigned publish_sq();
  unsigned publish_up_to(unsigned upto);
  io_uring_sqe* cancel_everything_on(int fd);
  int enter(unsigned to_submit, unsigned min_complete, unsigned flags, Deadline wake_by);
  bool push_sqes(int attempt);
  // split_link.cc: a request whose linked timeout a short submission cut off.
  void mend_split_link();
  void serve_split_links();
  [[gnu::cold]] void enter_failed(int rc, Stats& stats);
  void reap();
  void dispatch(const io_uring_cqe* cqe) noexcept;
  std::unique_lock<std::mutex> reap_guard() {
    return options_.shared_reaping ? std::unique_lock<std::mutex>(reap_mutex_)
                                   : std::unique_lock<std::mutex>();
  }
  void record_result(io::Operation* op, const io_uring_cqe* cqe) noexcept;
  static bool last_part(io::Operation* op) noexcept;
  // A receive whose provided buffer ran out: resubmitted, not finished.
  static bool missed_buffer(const io::Operation* op, const io_uring_cqe* cqe) noexcept {
    return op->buffer_select && cqe->res == -ENOBUFS;
  }
  void prepare_recv(io_uring_sqe* sqe, io::Operation& op);
  void resubmit_misses(Stats& stats);
  void operation_part_done(io::Operation* op) noexcept;
  void service_listeners();
  void arm_wake();
  unsigned submit_prepared();  // under reap_mutex_, by the monitor
  bool set_up_msg_wake();
  bool send_msg_wake() const;
  void forget_closed(RingListener* listener);
  [[noreturn, gnu::cold]] void fail_submission(int rc);
  [[noreturn, gnu::cold]] static void fail_stray_completion(const io::Operation* op);

  // The members are grouped by who may touch them: other threads (waking
  // the ring), the rescuer (under reap_mutex_), and the owner thread alone
  // (checked builds check the owner-only calls).

  // ---- any thread: waking a sleeping ring ----
  // Other threads wake a sleeping ring with a ring-less MSG_RING that posts
  // a kTagWake completion here (msg_wake_), or by writing to an eventfd that
  // has a read armed on it (not counted in in_flight_: it never ends on its
  // own). wake_flag_ keeps one wake-up in flight at most. Set up by the
  // owner before other threads can see the ring; read-only afterwards but
  // for wake_flag_.
  bool msg_wake_ = false;
  io::WakeFlag wake_flag_;
  int wake_fd_ = -1;

  // ---- the rescuer (shared_reaping), under reap_mutex_ ----
  // The owner holds reap_mutex_ whenever it enters or reaps; rescue() only
  // try-locks it. What a rescue cannot finish without the owner (listener,
  // wake-up and watched-operation CQEs) waits in stash_ for the owner's next
  // reap, in order; rescued_cqes_ is what the rescue took off in_flight_'s
  // account.
  mutable std::mutex reap_mutex_;  // mutable: has_completions() looks under it
  // SQEs are handed to the kernel at the end of a round. A fiber that parks
  // on I/O and a fiber after it in the same round that computes without
  // yielding would leave the first one's SQE unsubmitted, with no
  // completion a rescue could find. So each I/O park records how far the
  // queue holds SQEs of parked fibers (park_committed(): their fibers have switched
  // out, so a completion may ready them), and the rescue publishes and
  // submits up to there. The owner publishes under reap_mutex_ too; such
  // rings have no SINGLE_ISSUER (the monitor submits).
  std::atomic<unsigned> prepared_tail_{0};
  std::vector<io_uring_cqe> stash_;    // guarded by reap_mutex_
  std::size_t rescued_cqes_ = 0;       // guarded by reap_mutex_
  bool sync_cancel_ = true;  // guarded by reap_mutex_: IORING_REGISTER_SYNC_CANCEL works (Linux 6.0)
  // The queues and how to enter: the owner's, or the rescuer's under
  // reap_mutex_ (wakers read only ring_.ring_fd, fixed at set-up).
  io_uring ring_{};
  int enter_fd_ = -1;  // the ring's descriptor, or its registered index
  unsigned enter_flags_ = 0;

  // ---- owner thread only ----
  bool ready_ = false;
  RingOptions options_;
  RingFeatures features_;
  __kernel_timespec wait_ts_{};  // the timeout request of a pre-5.11 wait
  std::size_t in_flight_ = 0;
  RingListener* open_listeners_ = nullptr;     // owned by their sockets
  RingListener* closing_listeners_ = nullptr;  // owned here until their final CQE
  bool listeners_need_service_ = false;
  // Provided buffers (RingOptions::provided_buffers), and receives whose
  // buffer selection failed (-ENOBUFS), resubmitted plain by poll().
  std::unique_ptr<ProvidedBuffers> pbufs_;
  std::vector<io::Operation*> misses_;
  // Parts of operations whose timeout runs alone (split_link.cc), each a
  // completion dispatched and not yet counted; served by poll().
  struct SplitPart {
    io::Operation* op;
    bool timeout;  // the timeout's completion (else the request's)
  };
  std::vector<SplitPart, alloc::Allocator<SplitPart>> split_;
  bool cancelled_all_ = false;
  std::uint64_t wake_value_ = 0;  // the armed eventfd read's target
  bool wake_armed_ = false;
  // Counters, added into the worker's Stats by poll().
  std::uint64_t enters_ = 0;
  std::uint64_t split_links_ = 0;  // mend_split_link() mended one
  std::uint64_t waits_ = 0;
  std::uint64_t submitted_ = 0;
  std::uint64_t reaped_ = 0;
};

}  // namespace weft::uring
