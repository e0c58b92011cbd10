// Timers: one binary min-heap per worker, ordered by deadline and then by
// insertion, so timers with equal deadlines fire in the order they were set.
//
// A Timer lives wherever its owner puts it (usually the frame of the parked
// fiber that waits on it); the heap only points at it and each timer knows
// its heap position, so removing one that did not fire is O(log n).
//
// Thread rules: owner worker only.
#pragma once

#include <cstdint>
#include <vector>

#include <weft/alloc/heap.h>
#include <weft/fibers/cancel.h>

namespace weft::fibers {

struct Timer {
  Deadline deadline = kNoDeadline;
  void (*fire)(Timer* self) = nullptr;  // runs on the home context
  std::uint64_t seq = 0;
  std::uint32_t index = kNotQueued;
  static constexpr std::uint32_t kNotQueued = UINT32_MAX;
  bool queued() const { return index != kNotQueued; }
};

class TimerHeap {
 public:
  bool empty() const { return heap_.empty(); }
  std::size_t size() const { return heap_.size(); }
  Deadline next_deadline() const { return heap_.empty() ? kNoDeadline : heap_[0]->deadline; }

  void add(Timer* t);
  // Removes a timer that has not fired. No effect when it is not queued.
  void remove(Timer* t);
  // Forgets every timer without touching them (their memory may be gone).
  void clear() { heap_.clear(); }
  // Fires, in order, every timer whose deadline is not after `now`. Returns
  // how many fired. Callbacks may add and remove timers.
  unsigned fire_expired(Deadline now);

 private:
  static bool before(const Timer* a, const Timer* b) {
    return a->deadline < b->deadline || (a->deadline == b->deadline && a->seq < b->seq);
  }
  void sift_up(std::uint32_t i);
  void sift_down(std::uint32_t i);
  void place(std::uint32_t i, Timer* t) {
    heap_[i] = t;
    t->index = i;
  }

  std::vector<Timer*, alloc::Allocator<Timer*>> heap_;
  std::uint64_t next_seq_ = 0;
};

}  // namespace weft::fibers
