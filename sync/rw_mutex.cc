#include <weft/sync/rw_mutex.h>

#include <weft/fibers/result.h>
#include <weft/sync/wait_in_list.h>

namespace weft {

RWMutex::~RWMutex() {
  std::lock_guard<fibers::SpinLock> g(guard_);
  writers_waiting_.check_unwaited("weft::RWMutex", this);
  readers_waiting_.check_unwaited("weft::RWMutex", this);
}

bool RWMutex::try_lock() {
  std::uint64_t s = 0;
  return state_.compare_exchange_strong(s, kWriterHeld, std::memory_order_acquire, std::memory_order_relaxed);
}

bool RWMutex::try_lock_shared() {
  std::uint64_t s = state_.load(std::memory_order_relaxed);
  while ((s & kHoldsReadersBack) == 0) {
    if (state_.compare_exchange_weak(s, s + 1, std::memory_order_acquire, std::memory_order_relaxed)) return true;
  }
  return false;
}

std::error_code RWMutex::lock(const WaitOptions& options) {
  if (try_lock()) return {};
  return lock_slow(options);
}

std::error_code RWMutex::lock_shared(const WaitOptions& options) {
  if (try_lock_shared()) return {};
  return lock_shared_slow(options);
}

std::error_code RWMutex::lock_slow(const WaitOptions& options) {
  fibers::Worker& w = fibers::require_fiber("weft::RWMutex::lock");
  // Under guard_, just before this writer is linked: the lock is taken if it
  // is free and no writer queues ahead, else the flag says a writer waits.
  // Whoever hands the lock on sets kWriterHeld for the claimed writer.
  auto must_wait = [this] {
    std::uint64_t s = state_.load(std::memory_order_relaxed);
    for (;;) {
      if ((s & kReaders) == 0 && (s & kWriterHeld) == 0 && writers_waiting_.empty()) {
        if (state_.compare_exchange_weak(s, s | kWriterHeld, std::memory_order_acquire, std::memory_order_relaxed))
          return false;
      } else if (state_.compare_exchange_weak(s, s | kWritersWaiting, std::memory_order_relaxed)) {
        return true;
      }
    }
  };
  const int outcome = sync::wait_in_list(w, guard_, writers_waiting_, must_wait, options,
                                         {"weft::RWMutex::lock", this});
  if (outcome == 0) return {};
  // This writer gave up. If it was the last one waiting, the readers it held
  // back may go (and, with nobody holding it, so may nobody else).
  sync::WaitNode* admitted = nullptr;
  {
    std::lock_guard<fibers::SpinLock> g(guard_);
    clear_flags_of_empty_lists();
    if (writers_waiting_.empty() && (state_.load(std::memory_order_relaxed) & kWriterHeld) == 0)
      admitted = admit_readers();
  }
  sync::WaitList::finish(admitted);
  return errno_error(outcome);
}

std::error_code RWMutex::lock_shared_slow(const WaitOptions& options) {
  fibers::Worker& w = fibers::require_fiber("weft::RWMutex::lock_shared");
  // Under guard_: in at once if no writer holds it or waits for it, else the
  // flag says a reader waits. Whoever admits a claimed reader counts it.
  auto must_wait = [this] {
    std::uint64_t s = state_.load(std::memory_order_relaxed);
    for (;;) {
      if ((s & kWriterHeld) == 0 && writers_waiting_.empty()) {
        if (state_.compare_exchange_weak(s, s + 1, std::memory_order_acquire, std::memory_order_relaxed))
          return false;
      } else if (state_.compare_exchange_weak(s, s | kReadersWaiting, std::memory_order_relaxed)) {
        return true;
      }
    }
  };
  const int outcome = sync::wait_in_list(w, guard_, readers_waiting_, must_wait, options,
                                             {"weft::RWMutex::lock_shared", this});
  if (outcome == 0) return {};
  {
    std::lock_guard<fibers::SpinLock> g(guard_);
    clear_flags_of_empty_lists();
  }
  return errno_error(outcome);
}

void RWMutex::unlock_slow() {
  sync::WaitNode* woken = nullptr;
  {
    std::lock_guard<fibers::SpinLock> g(guard_);
    // Readers that waited go first, all of them; else the next writer.
    // Once kWriterHeld is clear a fast path may come in beside them (a
    // reader while no writer waits, a writer if nobody holds or waits):
    // both are counted in state_, which admit_readers and
    // hand_on_to_a_writer read again.
    state_.fetch_and(~kWriterHeld, std::memory_order_release);
    woken = admit_readers();
    if (woken == nullptr) woken = hand_on_to_a_writer();
  }
  sync::WaitList::finish(woken);
}

void RWMutex::unlock_shared_slow() {
  sync::WaitNode* woken = nullptr;
  {
    std::lock_guard<fibers::SpinLock> g(guard_);
    woken = hand_on_to_a_writer();
  }
  sync::WaitList::finish(woken);
}

sync::WaitNode* RWMutex::hand_on_to_a_writer() {
  // Taken for the writer first, so that no reader slips in between (a
  // reader's fast path sees kWriterHeld); only then is the writer claimed.
  std::uint64_t s = state_.load(std::memory_order_relaxed);
  do {
    if ((s & kReaders) != 0 || (s & kWriterHeld) != 0 || writers_waiting_.empty()) {
      clear_flags_of_empty_lists();
      return nullptr;
    }
  } while (!state_.compare_exchange_weak(s, s | kWriterHeld, std::memory_order_acq_rel, std::memory_order_relaxed));
  sync::WaitNode* writer = writers_waiting_.claim_one();
  if (writer == nullptr) {  // every one of them gave up meanwhile
    state_.fetch_and(~kWriterHeld, std::memory_order_release);
    clear_flags_of_empty_lists();
    return admit_readers();
  }
  clear_flags_of_empty_lists();
  return writer;
}

sync::WaitNode* RWMutex::admit_readers() {
  sync::WaitNode* claimed = readers_waiting_.claim_all();
  std::uint64_t n = 0;
  for (sync::WaitNode* c = claimed; c != nullptr; c = c->next) ++n;
  if (n != 0) state_.fetch_add(n, std::memory_order_acq_rel);
  clear_flags_of_empty_lists();
  return claimed;
}

void RWMutex::clear_flags_of_empty_lists() {
  std::uint64_t clear = 0;
  if (writers_waiting_.empty()) clear |= kWritersWaiting;
  if (readers_waiting_.empty()) clear |= kReadersWaiting;
  if (clear != 0) state_.fetch_and(~clear, std::memory_order_relaxed);
}

}  // namespace weft
