// Fiber stacks: virtual reservations committed a page at a time, guarded
// below, carved from large arenas and pooled per worker.
//
// One slot of an arena (addresses grow to the right):
//
//   | guard (64 KiB)  | stack .............................................. |
//   ^ slot            ^ Stack::base                                Stack::top ^
//
// A fiber starts at top() and grows down toward the guard. The mapping is
// MAP_NORESERVE and nothing is written to it up front, so the kernel commits a
// page only when the fiber first touches it: a fiber that stays shallow costs
// one 4 KiB page. Overflow runs into the guard and faults (see overflow.h).
//
// Invariants:
//  1. A StackPool belongs to one worker. Only that worker's thread calls
//     acquire(), release() and sweep(); the pool takes no locks.
//  2. Arenas (StackArenas) are shared by a runtime's pools and unmapped only
//     when the runtime goes. Slots are reused last-in first-out, so a new
//     fiber gets the stack that was warm last.
//  3. A stack handed back to the pool keeps at most `keep_bytes` committed
//     below its top once it has been checked:
//       - release() trims at once when the fiber was seen deeper than that
//         (the scheduler tracks the lowest stack pointer at every switch);
//       - a fiber can also go deep and come back up between two switches, so
//         released stacks are "unchecked" until sweep() (run by an idle
//         worker) asks mincore whether the page just below `keep_bytes` is
//         resident and trims those that are. Stacks grow contiguously, so
//         that one page tells whether the stack went deeper.
//  4. Under the mprotect guard method every new slot takes room from the
//     process-wide MapCountBudget first (guard.h); acquire() fails with
//     -EAGAIN, never a crash, once that budget is spent.
//
// Rejected: trimming with madvise on every release (a syscall per fiber exit
// would cap spawn+join far below the 10 M/s goal); segmented or copied stacks
// (C++ holds raw pointers into the stack, so it cannot move).
#pragma once

#include <bit>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include <weft/alloc/guard.h>
#include <weft/alloc/heap.h>

namespace weft::alloc {

struct Stack {
  char* base = nullptr;    // lowest usable byte, just above the guard
  std::uint32_t size = 0;  // usable bytes (at most StackPool::kMaxSize)
  // Pages below top() known to be committed: the deepest a fiber was seen
  // using, kept by the pool for its counters (StackPoolStats).
  std::uint32_t committed_pages = 0;
  char* top() const { return base + size; }
  explicit operator bool() const { return base != nullptr; }
};

struct StackPoolOptions {
  std::size_t guard_bytes = 64 << 10;  // faulting region below each stack
  std::size_t keep_bytes = 16 << 10;   // committed bytes a pooled stack may keep
  unsigned sweep_batch = 8;            // stacks sweep() checks per call
};

struct StackPoolStats {
  std::uint64_t slots_created = 0;  // slots carved from arenas (ever)
  std::uint64_t acquired = 0;       // stacks handed out
  std::uint64_t trims = 0;          // stacks trimmed back to keep_bytes
  // Pages fibers committed by touching them: the depth seen at switches when
  // a stack comes back, plus what a trim finds resident below keep_bytes
  // beyond that (a fiber may go deeper between two switches).
  std::uint64_t pages_committed = 0;
  std::uint64_t pages_trimmed = 0;  // resident pages trims gave back (mincore, then madvise)
  std::uint64_t checks = 0;         // mincore checks made by sweep()
  std::size_t arena_bytes = 0;      // virtual bytes reserved
  std::size_t pooled = 0;           // stacks waiting in the pool now
};

// The address space stacks are carved from: arenas that double in size, each
// slot a guard region and a stack. Shared by every worker's pool of a runtime
// (a fiber may finish on another worker than the one that gave it its stack,
// and its stack joins that worker's pool), so arenas live as long as the
// runtime, not as any one pool.
//
// Thread rules: carve() from any thread (a mutex; it runs only when a pool
// is empty); the rest owner-of-the-runtime only.
class StackArenas {
 public:
  explicit StackArenas(std::size_t guard_bytes = 64 << 10);
  ~StackArenas();  // unmaps every arena unless keep_mapped() was called
  StackArenas(const StackArenas&) = delete;
  StackArenas& operator=(const StackArenas&) = delete;

  // A fresh slot for a stack of `stack_size` usable bytes (a size class), or
  // -ENOMEM / -EAGAIN (map-count budget spent) / the guard's -errno.
  int carve(std::size_t stack_size, Stack* out);

  // The kernel may still write into stacks it was given: never unmap.
  void keep_mapped();
  std::size_t guard_bytes() const { return guard_bytes_; }
  std::uint64_t slots_created() const;
  std::size_t arena_bytes() const;

 private:
  struct Arena {
    char* base;
    std::size_t bytes;
  };
  struct SizeClass {
    char* next_slot = nullptr;  // next uncarved slot in the newest arena
    std::size_t slots_left = 0;
    std::size_t next_arena_slots = 16;
  };

  mutable std::mutex mutex_;
  std::size_t guard_bytes_;
  GuardMethod guard_method_;
  SizeClass classes_[10];                                        // guarded by mutex_
  std::vector<Arena, Allocator<Arena>> arenas_;              // guarded by mutex_
  std::vector<unsigned, Allocator<unsigned>> valgrind_ids_;  // guarded by mutex_
  std::uint64_t slots_created_ = 0;                          // guarded by mutex_
  std::size_t arena_bytes_ = 0;                              // guarded by mutex_
  bool keep_mapped_ = false;                                 // guarded by mutex_
};

// One worker's stacks. Thread rules: owner worker only, but for
// round_size(); a worker reaches its pool only through Worker::stacks(),
// where checked builds check the caller is the owner.
class StackPool {
 public:
  static constexpr std::size_t kDefaultSize = 256 << 10;
  static constexpr std::size_t kMinSize = 16 << 10;
  static constexpr std::size_t kMaxSize = 8 << 20;

  // The usable size a request for `requested` bytes gets (a power of two from
  // kMinSize to kMaxSize), or 0 when it is larger than kMaxSize. Any thread.
  static std::size_t round_size(std::size_t requested) {
    if (requested > kMaxSize) return 0;
    return requested <= kMinSize ? kMinSize : std::bit_ceil(requested);
  }

  // A pool with arenas of its own.
  explicit StackPool(StackPoolOptions options = {});
  // A pool carving from `arenas`, which must outlive it (a runtime's workers).
  StackPool(StackArenas& arenas, StackPoolOptions options = {});
  ~StackPool();
  StackPool(const StackPool&) = delete;
  StackPool& operator=(const StackPool&) = delete;

  // Owner worker only. A stack of round_size(size) bytes in *out, or -errno:
  // -EINVAL for a size above kMaxSize, -ENOMEM if mmap fails, -EAGAIN when
  // the mprotect guard method has used up its map-count budget.
  int acquire(std::size_t size, Stack* out) {
    const std::size_t rounded = round_size(size);
    if (rounded == 0) return -EINVAL;
    SizeClass& cls = class_for(rounded);
    ++stats_.acquired;
    if (!cls.unchecked.empty()) {
      *out = cls.unchecked.back();
      cls.unchecked.pop_back();
      --unchecked_count_;
      return 0;
    }
    if (!cls.checked.empty()) {
      *out = cls.checked.back();
      cls.checked.pop_back();
      return 0;
    }
    return arenas_->carve(rounded, out);
  }

  // Owner worker only. Takes a stack back. `lowest_seen` is the deepest
  // address the fiber was seen using (its base: depth unknown, trim); a
  // stack seen deeper than keep_bytes is trimmed now, any other waits for
  // sweep().
  [[gnu::always_inline]] void release(Stack stack, const void* lowest_seen) {
    const auto depth = static_cast<std::size_t>(stack.top() - static_cast<const char*>(lowest_seen));
    const auto pages = static_cast<std::uint32_t>((depth + page_ - 1) >> page_shift_);
    // (`lowest_seen` at the base means "trim it", depth unknown: the trim's
    // mincore counts what was committed.)
    if (pages > stack.committed_pages && lowest_seen > stack.base) {
      stats_.pages_committed += pages - stack.committed_pages;
      stack.committed_pages = pages;
    }
    if (depth > options_.keep_bytes) [[unlikely]] {
      trim_and_keep(stack);
      return;
    }
    class_for(stack.size).unchecked.push_back(stack);
    ++unchecked_count_;
  }

  // Owner worker only. Checks up to sweep_batch unchecked stacks and trims
  // those that grew deep. Returns how many it trimmed. Costs one mincore call
  // per stack checked, so the scheduler runs it only when it is about to idle.
  unsigned sweep();

  bool has_unchecked() const { return unchecked_count_ != 0; }

  // Owner worker only. Never unmap the arenas (the kernel may still write
  // into stacks it was given).
  void keep_mapped() { arenas_->keep_mapped(); }
  const StackPoolOptions& options() const { return options_; }
  StackPoolStats stats() const;

 private:
  struct SizeClass {
    std::vector<Stack, Allocator<Stack>> unchecked;  // released, not yet swept
    std::vector<Stack, Allocator<Stack>> checked;    // known shallow
  };
  void trim(Stack& stack);
  [[gnu::noinline]] void trim_and_keep(Stack stack);
  SizeClass& class_for(std::size_t rounded) {
    return classes_[std::countr_zero(rounded) - std::countr_zero(kMinSize)];
  }

  StackPoolOptions options_;
  std::unique_ptr<StackArenas> own_arenas_;  // when not given shared ones
  StackArenas* arenas_;
  std::size_t page_;
  unsigned page_shift_;
  SizeClass classes_[10];  // kMinSize << i
  std::size_t unchecked_count_ = 0;
  StackPoolStats stats_;
};

// Pages of `stack` that are resident right now (mincore). Any thread.
std::size_t resident_pages(const Stack& stack);

}  // namespace weft::alloc
