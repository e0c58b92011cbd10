#include <weft/fibers/timer.h>

namespace weft::fibers {

void TimerHeap::add(Timer* t) {
  t->seq = next_seq_++;
  heap_.push_back(t);
  place(static_cast<std::uint32_t>(heap_.size() - 1), t);
  sift_up(t->index);
}

void TimerHeap::remove(Timer* t) {
  if (!t->queued()) return;
  const std::uint32_t i = t->index;
  Timer* last = heap_.back();
  heap_.pop_back();
  t->index = Timer::kNotQueued;
  if (last == t) return;
  place(i, last);
  sift_down(i);
  sift_up(last->index);
}

unsigned TimerHeap::fire_expired(Deadline now) {
  unsigned fired = 0;
  while (!heap_.empty() && heap_[0]->deadline <= now) {
    Timer* t = heap_[0];
    remove(t);
    t->fire(t);
    ++fired;
  }
  return fired;
}

void TimerHeap::sift_up(std::uint32_t i) {
  Timer* t = heap_[i];
  while (i > 0) {
    const std::uint32_t parent = (i - 1) / 2;
    if (!before(t, heap_[parent])) break;
    place(i, heap_[parent]);
    i = parent;
  }
  place(i, t);
}

void TimerHeap::sift_down(std::uint32_t i) {
  Timer* t = heap_[i];
  const std::uint32_t n = static_cast<std::uint32_t>(heap_.size());
  for (;;) {
    std::uint32_t child = 2 * i + 1;
    if (child >= n) break;
    if (child + 1 < n && before(heap_[child + 1], heap_[child])) ++child;
    if (!before(heap_[child], t)) break;
    place(i, heap_[child]);
    i = child;
  }
  place(i, t);
}

}  // namespace weft::fibers
