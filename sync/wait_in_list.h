// wait_in_list(): how a fiber waits in a sync primitive's WaitList. Internal.
//
// A WaitNode lives in the frame of the waiting fiber. The primitive's own
// SpinLock guards its list and every node's `linked` flag; wait_in_list()
// links the node only after the fiber has switched out (see
// fibers/wait.h), re-checking the primitive's condition under that lock
// first, so no wake-up is lost.
//
// Thread rules: on a fiber, without the primitive's lock.
#pragma once

#include <mutex>

#include <weft/fibers/spin_lock.h>
#include <weft/fibers/wait.h>
#include <weft/sync/wait_list.h>

namespace weft::sync {

struct WaitNode {
  explicit WaitNode(fibers::Worker& w) : waiter(w) {}
  fibers::Waiter waiter;
  WaitNode* prev = nullptr;
  WaitNode* next = nullptr;
  bool linked = false;
  int note = 0;  // set by a claimer for the waiter (Mutex: the lock is yours)
};
// Parks the calling fiber (`w`: its worker *now* — after any earlier park
// the fiber may run on another one) in `list` until granted, the deadline
// or cancellation (`where`: what it waits in, see Worker::park).
// `must_wait()` runs under `lock` just before linking: when
// it returns false the fiber resumes at once and this returns 0 as if
// granted. `front`: queue first instead of last. `note`: what the claimer
// left in the node. Returns 0 when granted, kDeadlineExceeded or ECANCELED. On return the
// node is unlinked and `lock` not held.
template <class MustWait>
int wait_in_list(fibers::Worker& w, fibers::SpinLock& lock, WaitList& list, MustWait& must_wait,
         const WaitOptions& options, fibers::WaitSite where, bool front = false, int* note = nullptr) {
  struct Frame {
    WaitNode node;
    fibers::SpinLock* lock;
    WaitList* list;
    MustWait* must_wait;
    bool front;
  } f{WaitNode(w), &lock, &list, &must_wait, front};
  f.node.waiter.on_abandon(
      [](void* arg) {
        auto* fr = static_cast<Frame*>(arg);
        // Claimed and readied but never run: unlinked, and the primitive
        // may be gone (the run is over: nobody writes the flag now).
        if (!fr->node.linked) return;
        std::lock_guard<fibers::SpinLock> g(*fr->lock);
        fr->list->remove(&fr->node);
      },
      &f);
  const int outcome = f.node.waiter.wait(
      options, where,
      [](fibers::Waiter&, void* arg) {
        auto* fr = static_cast<Frame*>(arg);
        std::lock_guard<fibers::SpinLock> g(*fr->lock);
        if (!(*fr->must_wait)()) return false;
        if (fr->front)
          fr->list->push_front(&fr->node);
        else
          fr->list->push_back(&fr->node);
        return true;
      },
      &f);
  // Claimed (0): the claimer unlinked the node and let go of the lock before
  // readying us. Otherwise the node may still be linked.
  if (outcome != 0) {
    std::lock_guard<fibers::SpinLock> g(lock);
    list.remove(&f.node);
  }
  if (note != nullptr) *note = f.node.note;
  return outcome;
}

}  // namespace weft::sync
