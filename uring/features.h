// weft/uring/features.h — what the kernel's io_uring offered at start-up.
//
// The ring probes each optional feature once, when it is created, and uses
// what it finds; an older kernel still works, with fewer features.
#pragma once

#include <string>

namespace weft {

// How another thread wakes a worker parked in its ring (RuntimeOptions::wake,
// WEFT_WAKE=msg_ring|eventfd).
//   msg_ring  the waker posts a completion straight into the parked ring with
//             a ring-less IORING_OP_MSG_RING (io_uring_register with fd -1,
//             IORING_REGISTER_SEND_MSG_RING; Linux 6.13)
//   eventfd   the waker writes an eventfd on which the ring keeps a read armed
// automatic picks msg_ring where the kernel has it (it measured better; see
// perf/RESULTS.md), eventfd elsewhere. The epoll backend always uses eventfd.
enum class WakeMechanism { automatic, msg_ring, eventfd };

struct RingFeatures {
  unsigned setup_flags = 0;  // IORING_SETUP_* the ring was created with
  unsigned sq_entries = 0;
  unsigned cq_entries = 0;
  bool single_issuer = false;       // IORING_SETUP_SINGLE_ISSUER (6.0)
  bool defer_taskrun = false;       // IORING_SETUP_DEFER_TASKRUN (6.1)
  bool coop_taskrun = false;        // IORING_SETUP_COOP_TASKRUN (5.19)
  bool taskrun_flag = false;        // IORING_SETUP_TASKRUN_FLAG (5.19)
  bool submit_all = false;          // IORING_SETUP_SUBMIT_ALL (5.18)
  bool ext_arg = false;             // timeouts on io_uring_enter (5.11)
  bool nodrop = false;              // completions are never dropped (5.5)
  bool fast_poll = false;           // sockets polled internally, no worker thread (5.7)
  bool registered_ring_fd = false;  // io_uring_enter on a registered ring fd (5.18)
  bool multishot_accept = false;    // one accept SQE for many connections (5.19)
  bool cancel_fd = false;           // cancel every request on a descriptor (5.19)
  bool msg_ring = false;            // IORING_OP_MSG_RING (5.18)
  bool send_zc = false;             // IORING_OP_SEND_ZC (6.0)
  bool waitid = false;              // IORING_OP_WAITID (6.7); else a child's exit is a poll on its pidfd
  bool provided_buffers = false;    // receives into a provided buffer ring (5.19), when asked
  bool msg_ring_wake = false;       // wake-ups by ring-less MSG_RING (6.13), else eventfd

  // "setup=SINGLE_ISSUER|DEFER_TASKRUN|... multishot_accept=yes ..." on one line.
  std::string describe() const;
};

}  // namespace weft
