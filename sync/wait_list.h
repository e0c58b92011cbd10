// WaitList: the list of parked waits (WaitNodes) inside every fiber sync
// primitive, with the claim protocol below, behind Mutex, CondVar,
// Semaphore, WaitGroup and Event (Channel keeps its own kind of node in an
// IntrusiveFifo too). The nodes and wait_in_list() are in
// sync/wait_in_list.h, inside the library.
//
// Hand-off rule: a waker claims under the primitive's lock: it pops a node
// and claims its wait (Waiter::claim). If the claim fails, that wait already
// ended by deadline or cancellation, so the waker gives what it was handing
// (a permit, a value) to the next node instead. A claimed waiter owns
// whatever was handed to it. The waker readies the claimed fibers with
// finish() after releasing the lock: they cannot run before that, so they
// need not take the lock again, and the primitive may be destroyed as soon
// as one of them runs (the waker no longer touches it).
//
// Thread rules: every member but finish() is called with the owning
// primitive's lock held; finish() without it.
#pragma once

#include <cstddef>

#include <weft/fibers/intrusive_fifo.h>
#include <weft/fibers/spin_lock.h>

namespace weft::fibers {
struct Fiber;
}

namespace weft::sync {

struct WaitNode;

class WaitList : public fibers::IntrusiveFifo<WaitNode> {
 public:
  // Pops nodes until one's claim succeeds and returns it (null: none).
  WaitNode* claim_one();
  // Claims every node; returns them as a list for finish().
  WaitNode* claim_all();
  // Readies claimed nodes (one, or a claim_all() list). No lock held.
  static void finish(WaitNode* claimed);
  // For the primitive's destructor: a wait still parked here belongs to a
  // live fiber (the runtime unlinks the waits of fibers it abandons), so
  // the primitive is being destroyed under it. Ends the process naming
  // `primitive` ("weft::Mutex"), `object` and the first waiting fiber.
  void check_unwaited(const char* primitive, const void* object) const noexcept;
};

// Ends the process: `primitive` at `object` is being destroyed while
// `waits` waits are parked in it, the first by `first` (null: a plain
// thread). Waking them with an error instead would return them into code
// that still holds the dead object.
[[noreturn]] void destroyed_while_waited(const char* primitive, const void* object, std::size_t waits,
                                         const fibers::Fiber* first) noexcept;

}  // namespace weft::sync
