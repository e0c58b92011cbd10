#include <weft/uring/features.h>

#include <liburing.h>

namespace weft {

std::string RingFeatures::describe() const {
  std::string flags;
  auto flag = [&flags](bool on, const char* name) {
    if (!on) return;
    if (!flags.empty()) flags += '|';
    flags += name;
  };
  flag(single_issuer, "SINGLE_ISSUER");
  flag(defer_taskrun, "DEFER_TASKRUN");
  flag(coop_taskrun, "COOP_TASKRUN");
  flag(taskrun_flag, "TASKRUN_FLAG");
  flag(submit_all, "SUBMIT_ALL");
  if (flags.empty()) flags = "none";
  auto yes = [](bool b) { return b ? "yes" : "no"; };
  return "ring setup=" + flags + " sq=" + std::to_string(sq_entries) +
         " cq=" + std::to_string(cq_entries) + " ext_arg=" + yes(ext_arg) +
         " fast_poll=" + yes(fast_poll) + " registered_ring_fd=" + yes(registered_ring_fd) +
         " multishot_accept=" + yes(multishot_accept) + " cancel_fd=" + yes(cancel_fd) +
         " msg_ring=" + yes(msg_ring) + " send_zc=" + yes(send_zc) + " waitid=" + yes(waitid) +
         " provided_buffers=" + yes(provided_buffers) +
         " wake=" + (msg_ring_wake ? "msg_ring" : "eventfd");
}

}  // namespace weft
