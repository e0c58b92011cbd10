// Ring: a request whose linked timeout a short submission cut off.
//
// An operation with a deadline goes to the kernel as two SQEs, the request
// flagged IOSQE_IO_LINK and its IORING_OP_LINK_TIMEOUT. The kernel may take
// fewer SQEs than an enter gives it (it stops when it cannot allocate a
// request), and may stop between the two: the request then runs alone, and
// its link timeout, submitted later with nothing before it to link to,
// fails with -EINVAL. The request would wait past its deadline, forever on
// a quiet socket.
//
// The protocol, owner worker only:
//   1. After an enter that took fewer SQEs than it was given, mend_split_link()
//      looks at the boundary. If the last SQE taken is flagged IOSQE_IO_LINK
//      and the first one left is a link timeout, that SQE (not yet read by
//      the kernel) becomes a plain IORING_OP_TIMEOUT on the same absolute
//      deadline, and the operation is marked timeout_alone.
//   2. When one of such an operation's two completions arrives, dispatch()
//      records it and queues the operation in split_ instead of counting the
//      part done: a completion must not prepare SQEs (it may arrive inside a
//      submission), and the other part must be stopped first.
//   3. poll() then serves split_ (serve_split_links): while the other part is
//      still in the kernel (pending == 2), the timeout that fired cancels the
//      request, or the request that ended removes its timeout; then the part
//      is counted done. A request that ended with -EAGAIN is submitted again
//      instead: sent alone, the kernel ran it in a worker thread, where a
//      non-blocking descriptor that is not ready says so rather than wait. The operation is delivered once both have arrived, as
//      always, so the record outlives every SQE that names it.
// The monitor's rescue leaves such completions to the owner (stashed).
#include <weft/uring/ring.h>

#include <cerrno>

namespace weft::uring {

void Ring::mend_split_link() {
  io_uring_sq& sq = ring_.sq;
  const unsigned head = io_uring_smp_load_acquire(sq.khead);
  if (head == *sq.ktail) return;  // it took everything published after all
  const io_uring_sqe& last = sq.sqes[sq.array[(head - 1) & sq.ring_mask]];
  if ((last.flags & IOSQE_IO_LINK) == 0) return;
  io_uring_sqe& next = sq.sqes[sq.array[head & sq.ring_mask]];
  // (A close hard-linked behind its cancel runs alone just as well, in order.)
  if (next.opcode != IORING_OP_LINK_TIMEOUT) return;
  const std::uint64_t data = next.user_data;
  auto* op = reinterpret_cast<io::Operation*>(data & ~kTagMask);
  io_uring_prep_timeout(&next, &op->deadline_ts, 0, IORING_TIMEOUT_ABS);
  io_uring_sqe_set_data64(&next, data);
  op->timeout_alone = true;
  ++split_links_;
}

void Ring::serve_split_links() {
  std::vector<SplitPart, alloc::Allocator<SplitPart>> parts;
  parts.swap(split_);
  for (const SplitPart& part : parts) {
    io::Operation* op = part.op;
    if (!part.timeout && op->pending == 2 && op->result == -EAGAIN) {
      // Alone, the kernel ran the request in a worker thread, where a read
      // of a non-blocking descriptor says -EAGAIN instead of waiting for
      // it to be ready. Again, unlinked: now it waits, under its timeout.
      io_uring_sqe* sqe = get_sqe();
      prepare(sqe, *op);
      io_uring_sqe_set_data64(sqe, reinterpret_cast<std::uint64_t>(op) | kTagOperation);
      ++in_flight_;
      continue;
    }
    if (op->pending == 2) {
      io_uring_sqe* sqe = fire_and_forget();
      if (part.timeout) {
        // The deadline passed with the request still running: end it (it
        // completes with -ECANCELED, read as the deadline by last_part()).
        io_uring_prep_cancel64(sqe, reinterpret_cast<std::uint64_t>(op) | kTagOperation, 0);
      } else {
        // The request ended first: take its timeout back.
        io_uring_prep_timeout_remove(sqe, reinterpret_cast<std::uint64_t>(op) | kTagTimeout, 0);
      }
      io_uring_sqe_set_data64(sqe, kTagIgnore);
    }
    operation_part_done(op);
  }
}

}  // namespace weft::uring
