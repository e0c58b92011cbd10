// park(): how a fiber waits in a sync primitive's WaitList. Internal.
//
// A WaitNode lives in the frame of the waiting fiber. The primitive's own
// std::mutex guards its list and every node's `linked` flag; park() links the
// node only after the fiber has switched out (see wait.h), re-checking the
// primitive's condition under that lock first, so no wake-up is lost.
//
// Thread rules: park() on a fiber, without the primitive's lock.
#pragma once

#include <mutex>

#include <weft/fibers/wait.h>
#include <weft/fibers/wait_list.h>

namespace weft::fibers {

struct WaitNode {
  explicit WaitNode(Worker& w) : waiter(w) {}
  Waiter waiter;
  WaitNode* prev = nullptr;
  WaitNode* next = nullptr;
  bool linked = false;
};
// Parks the calling fiber (worker `w`) in `list` until granted, the deadline
// or cancellation. `must_wait()` runs under `lock` just before linking: when
// it returns false the fiber resumes at once and park() returns 0 as if
// granted. Returns 0 when granted, ETIMEDOUT or ECANCELED. On return the
// node is unlinked, `lock` not held, and whoever granted has let go of it.
template <class MustWait>
int park(Worker& w, std::mutex& lock, WaitList& list, MustWait& must_wait,
         const WaitOptions& options) {
  struct Frame {
    WaitNode node;
    std::mutex* lock;
    WaitList* list;
    MustWait* must_wait;
  } f{WaitNode(w), &lock, &list, &must_wait};
  f.node.waiter.on_abandon(
      [](void* arg) {
        auto* fr = static_cast<Frame*>(arg);
        std::lock_guard<std::mutex> g(*fr->lock);
        fr->list->remove(&fr->node);
      },
      &f);
  const int outcome = f.node.waiter.wait(
      options,
      [](Waiter&, void* arg) {
        auto* fr = static_cast<Frame*>(arg);
        std::lock_guard<std::mutex> g(*fr->lock);
        if (!(*fr->must_wait)()) return false;
        fr->list->push_back(&fr->node);
        return true;
      },
      &f);
  // Always through the lock, granted or not: a granter still holds it while
  // it finishes, and the primitive may be destroyed as soon as we return.
  std::lock_guard<std::mutex> g(lock);
  list.remove(&f.node);
  return outcome;
}

}  // namespace weft::fibers
