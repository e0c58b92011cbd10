#include <weft/fibers/timer.h>

#include <thread>

namespace weft::fibers {

std::size_t TimerHeap::size() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return heap_.size();
}

void TimerHeap::add(Timer* t) {
  std::lock_guard<std::mutex> lock(mutex_);
  t->seq = next_seq_++;
  heap_.push_back(t);
  place(static_cast<std::uint32_t>(heap_.size() - 1), t);
  sift_up(t->index);
  publish_earliest();
}

void TimerHeap::remove(Timer* t) {
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    if (t->queued()) {  // (perhaps added again by the callback we waited for)
      erase(t);
      publish_earliest();
      return;
    }
    // Fired, or firing right now on another thread: wait until its callback
    // is done with it (never the case on the thread running the callback).
    if (!firing(t)) return;
    lock.unlock();
    std::this_thread::yield();
    lock.lock();
  }
}

bool TimerHeap::try_remove(Timer* t) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (t->queued()) {
    erase(t);
    publish_earliest();
    return true;
  }
  return !firing(t);
}

void TimerHeap::clear() {
  std::lock_guard<std::mutex> lock(mutex_);
  heap_.clear();
  publish_earliest();
}

void TimerHeap::erase(Timer* t) {
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
  std::unique_lock<std::mutex> lock(mutex_);
  while (!heap_.empty() && heap_[0]->deadline <= now) {
    Timer* t = heap_[0];
    erase(t);
    firing_ = t;
    firing_thread_ = std::this_thread::get_id();
    lock.unlock();
    t->fire(t);  // may add or remove timers; t itself stays valid until firing_ clears
    lock.lock();
    firing_ = nullptr;
    ++fired;
  }
  publish_earliest();
  return fired;
}

unsigned TimerHeap::fire_expired_elsewhere(Deadline now, std::size_t max) {
  unsigned fired = 0;
  std::unique_lock<std::mutex> lock(mutex_);
  // A callback may decline and add its timer again (it found the owner
  // busy with what it guards): that one waits for the next call.
  const std::uint64_t added_before = next_seq_;
  while (fired < max) {
    // The earliest expired any_thread timer: expired ones form a subtree at
    // the root (each is no later than its parent's children).
    Timer* best = nullptr;
    std::uint32_t stack[64];
    std::size_t depth = 0;
    if (!heap_.empty() && heap_[0]->deadline <= now) stack[depth++] = 0;
    while (depth > 0) {
      const std::uint32_t i = stack[--depth];
      Timer* t = heap_[i];
      if (t->any_thread && t->seq < added_before && (best == nullptr || before(t, best))) best = t;
      for (std::uint32_t c = 2 * i + 1; c <= 2 * i + 2 && c < heap_.size(); ++c) {
        if (heap_[c]->deadline <= now && depth < std::size(stack)) stack[depth++] = c;
      }
    }
    if (best == nullptr) break;
    erase(best);
    publish_earliest();
    firing_elsewhere_ = best;
    firing_elsewhere_thread_ = std::this_thread::get_id();
    lock.unlock();
    best->fire(best);
    lock.lock();
    firing_elsewhere_ = nullptr;
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
