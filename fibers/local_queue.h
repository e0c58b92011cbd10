// LocalQueue: a worker's bounded queue of runnable fibers, which other
// workers may steal from.
//
// A ring of 256 slots indexed by two free-running 32-bit counters:
//   tail  written only by the owner (push), read by everyone;
//   head  advanced by whoever takes fibers, the owner (pop) or a thief
//         (steal), each with a compare-and-swap, so every fiber is taken once.
// The owner pushes at the tail and pops at the head (first in, first out).
// A thief copies up to half of the queued fibers into its own queue and then
// claims them with one CAS on the victim's head; if the CAS fails, someone
// else took from the queue meanwhile and the thief starts over (its copies
// were never published, since its own tail did not move).
//
// Why a copied slot can be trusted: the owner overwrites slot i only after
// head has passed i (the queue never holds more than 256), and a head that
// has passed i makes the thief's CAS fail.
//
// Memory orders: a push stores the slot (relaxed) and then the tail
// (release); a taker loads the tail (acquire) before reading slots, so it
// sees them. Head CASes are acq_rel: the taker that wins owns the fibers.
//
// The capabilities are types: only the Owner handle can push or pop, a
// Stealer handle can only steal, so the thread rule cannot be broken by
// accident.
//
// Thread rules: Owner: the owning worker's thread only. Stealer: any thread.
#pragma once

#include <atomic>
#include <cstdint>

#include <weft/fibers/fiber.h>

namespace weft::fibers {

class LocalQueue {
 public:
  static constexpr std::uint32_t kCapacity = 256;

  class Owner;
  class Stealer;

  // Fibers queued now. Any thread; exact only for the owner.
  std::uint32_t size() const {
    const std::uint32_t h = head_.load(std::memory_order_acquire);
    const std::uint32_t t = tail_.load(std::memory_order_acquire);
    return t - h;
  }
  bool empty() const { return size() == 0; }

 private:
  std::atomic<std::uint32_t> head_{0};
  alignas(64) std::atomic<std::uint32_t> tail_{0};
  alignas(64) std::atomic<Fiber*> slots_[kCapacity] = {};
};

class LocalQueue::Owner {
 public:
  explicit Owner(LocalQueue& q) : q_(q) {}

  // Queues `f` at the tail. Returns false when the queue is full (the caller
  // then moves half of it, and f, to the global queue: see take_half).
  bool push(Fiber* f) {
    const std::uint32_t t = q_.tail_.load(std::memory_order_relaxed);
    const std::uint32_t h = q_.head_.load(std::memory_order_acquire);
    if (t - h >= kCapacity) return false;
    q_.slots_[t % kCapacity].store(f, std::memory_order_relaxed);
    q_.tail_.store(t + 1, std::memory_order_release);
    return true;
  }

  // The fiber at the head, or null when empty.
  Fiber* pop() {
    std::uint32_t h = q_.head_.load(std::memory_order_acquire);
    for (;;) {
      const std::uint32_t t = q_.tail_.load(std::memory_order_relaxed);
      if (h == t) return nullptr;
      Fiber* f = q_.slots_[h % kCapacity].load(std::memory_order_relaxed);
      if (q_.head_.compare_exchange_weak(h, h + 1, std::memory_order_acq_rel,
                                         std::memory_order_acquire)) {
        return f;
      }
    }
  }

  // Takes half of the queue (the older half) as a linked list through
  // Fiber::next, for the global queue when the local one overflows. Returns
  // how many it took (0 if thieves emptied the queue meanwhile).
  std::uint32_t take_half(Fiber** first, Fiber** last) {
    std::uint32_t h = q_.head_.load(std::memory_order_acquire);
    for (;;) {
      const std::uint32_t t = q_.tail_.load(std::memory_order_relaxed);
      const std::uint32_t n = (t - h) / 2;
      if (n == 0) return 0;
      Fiber* batch[kCapacity / 2];
      for (std::uint32_t i = 0; i < n; ++i) {
        batch[i] = q_.slots_[(h + i) % kCapacity].load(std::memory_order_relaxed);
      }
      if (q_.head_.compare_exchange_weak(h, h + n, std::memory_order_acq_rel,
                                         std::memory_order_acquire)) {
        for (std::uint32_t i = 0; i + 1 < n; ++i) batch[i]->next = batch[i + 1];
        batch[n - 1]->next = nullptr;
        *first = batch[0];
        *last = batch[n - 1];
        return n;
      }
    }
  }

  std::uint32_t size() const { return q_.size(); }
  bool empty() const { return q_.empty(); }

 private:
  friend class Stealer;
  LocalQueue& q_;
};

class LocalQueue::Stealer {
 public:
  explicit Stealer(LocalQueue& q) : q_(q) {}

  // Moves about half of this queue's fibers (rounded up) into `into`, whose
  // owner must be the calling thread and whose queue must be empty. Returns
  // how many moved.
  std::uint32_t steal_into(Owner& into) {
    LocalQueue& dst = into.q_;
    const std::uint32_t dst_tail = dst.tail_.load(std::memory_order_relaxed);
    std::uint32_t h = q_.head_.load(std::memory_order_acquire);
    for (;;) {
      const std::uint32_t t = q_.tail_.load(std::memory_order_acquire);
      std::uint32_t n = t - h;
      if (n == 0) return 0;
      if (n > kCapacity) {  // head moved under us between the two loads
        h = q_.head_.load(std::memory_order_acquire);
        continue;
      }
      n -= n / 2;
      for (std::uint32_t i = 0; i < n; ++i) {
        Fiber* f = q_.slots_[(h + i) % kCapacity].load(std::memory_order_relaxed);
        dst.slots_[(dst_tail + i) % kCapacity].store(f, std::memory_order_relaxed);
      }
      if (q_.head_.compare_exchange_weak(h, h + n, std::memory_order_acq_rel,
                                         std::memory_order_acquire)) {
        dst.tail_.store(dst_tail + n, std::memory_order_release);
        return n;
      }
    }
  }

 private:
  LocalQueue& q_;
};

}  // namespace weft::fibers
