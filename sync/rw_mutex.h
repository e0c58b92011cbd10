// weft/sync/rw_mutex.h — a reader/writer lock that parks fibers.
//
//   weft::RWMutex m;
//   { std::shared_lock<weft::RWMutex> r(m); ... }   // many readers at once
//   { std::lock_guard<weft::RWMutex> w(m); ... }    // one writer, no readers
//
// Writers are preferred and nobody starves, as with Go's sync.RWMutex: once
// a writer waits, readers that arrive after it wait too (so a stream of
// readers cannot hold a writer off), and a writer's unlock() admits every
// reader waiting at that moment before the next writer (so a stream of
// writers cannot hold readers off). Waiting writers are served in arrival
// order. Every wait takes a deadline and a cancel token; one that gives up
// leaves the lock as if it had never asked.
//
// Thread rules: lock() and lock_shared() on a fiber of any worker (they
// need one only to wait: uncontended they are a compare-and-swap); the
// try_ forms and the unlocks from any fiber (an unlock from the fiber, or
// code acting for it, that holds the lock). Not recursive: a reader that
// asks again while a writer waits deadlocks, as in Go. Destroying it while
// a fiber waits on it ends the process with a message naming it and the
// waiting fiber (tests/fibers/misuse_test.cc).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <system_error>

#include <weft/fibers/cancel.h>
#include <weft/fibers/spin_lock.h>
#include <weft/sync/wait_list.h>

namespace weft {

class RWMutex {
 public:
  RWMutex() = default;
  ~RWMutex();
  RWMutex(const RWMutex&) = delete;
  RWMutex& operator=(const RWMutex&) = delete;

  // Exclusive: parks until no reader and no writer holds it. With options:
  // std::errc::timed_out or operation_canceled when the wait ends first.
  // Uncontended: one compare-and-swap to lock, one to unlock, inline.
  void lock() {
    std::uint64_t s = 0;
    if (!state_.compare_exchange_strong(s, kWriterHeld, std::memory_order_acquire, std::memory_order_relaxed))
        [[unlikely]]
      (void)lock_slow(WaitOptions{.scoped = false});
  }
  std::error_code lock(const WaitOptions& options);
  bool try_lock();
  void unlock() {
    std::uint64_t s = kWriterHeld;
    if (!state_.compare_exchange_strong(s, 0, std::memory_order_release, std::memory_order_relaxed)) [[unlikely]]
      unlock_slow();
  }

  // Shared: parks while a writer holds it or waits for it. Uncontended: one
  // compare-and-swap to lock, one atomic decrement to unlock, inline.
  void lock_shared() {
    std::uint64_t s = state_.load(std::memory_order_relaxed);
    if ((s & kHoldsReadersBack) != 0 ||
        !state_.compare_exchange_weak(s, s + 1, std::memory_order_acquire, std::memory_order_relaxed)) [[unlikely]]
      (void)lock_shared_slow(WaitOptions{.scoped = false});
  }
  std::error_code lock_shared(const WaitOptions& options);
  bool try_lock_shared();
  void unlock_shared() {
    const std::uint64_t before = state_.fetch_sub(1, std::memory_order_release);
    // The last reader out hands the lock to a waiting writer.
    if ((before & kWritersWaiting) != 0 && (before & kReaders) == 1) [[unlikely]]
      unlock_shared_slow();
  }

 private:
  // state_: the readers holding it (low bits) and three flags. The flags
  // that say someone waits are set, under guard_, before the waiter is
  // linked, so the fast paths above see them and take the slow path; they
  // are cleared under guard_ once the list is empty. A flag may stay set a
  // little after its list emptied: a fast path then merely goes slow.
  static constexpr std::uint64_t kReaders = (std::uint64_t{1} << 48) - 1;
  static constexpr std::uint64_t kWriterHeld = std::uint64_t{1} << 60;
  static constexpr std::uint64_t kWritersWaiting = std::uint64_t{1} << 61;
  static constexpr std::uint64_t kReadersWaiting = std::uint64_t{1} << 62;
  static constexpr std::uint64_t kHoldsReadersBack = kWriterHeld | kWritersWaiting;

  std::error_code lock_slow(const WaitOptions& options);
  std::error_code lock_shared_slow(const WaitOptions& options);
  void unlock_slow();
  void unlock_shared_slow();
  // Under guard_: admits every waiting reader (counted in state_) and
  // returns them claimed, for finish(); clears the flags of empty lists.
  sync::WaitNode* admit_readers();
  void clear_flags_of_empty_lists();
  // Under guard_, with readers_ 0 and no writer: the next waiting writer
  // gets the lock (null: none was waiting, and the readers are admitted).
  sync::WaitNode* hand_on_to_a_writer();

  std::atomic<std::uint64_t> state_{0};
  fibers::SpinLock guard_;
  sync::WaitList readers_waiting_;  // guarded by guard_
  sync::WaitList writers_waiting_;  // guarded by guard_
};

}  // namespace weft
