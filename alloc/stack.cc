#include <weft/alloc/stack.h>

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>

#include <weft/faults/faults.h>

#if defined(__SANITIZE_ADDRESS__)
#define WEFT_ALLOC_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define WEFT_ALLOC_ASAN 1  // clang says it this way
#endif
#endif
#ifdef WEFT_ALLOC_ASAN
#include <sanitizer/asan_interface.h>
#endif

#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define WEFT_HAVE_VALGRIND 1
#endif

namespace weft::alloc {
namespace {

constexpr std::size_t kMaxArenaBytes = std::size_t{1} << 30;  // 1 GiB of address space
constexpr std::size_t kMaxArenaSlots = 4096;

// Pages of [base, base + bytes) resident now (mincore); both page-aligned.
std::size_t count_resident(char* base, std::size_t bytes) {
  const std::size_t page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
  std::vector<unsigned char> vec(bytes / page);
  if (vec.empty() || mincore(base, bytes, vec.data()) != 0) return 0;
  return static_cast<std::size_t>(
      std::count_if(vec.begin(), vec.end(), [](unsigned char v) { return (v & 1) != 0; }));
}

}  // namespace

// ---- arenas ---------------------------------------------------------------------

StackArenas::StackArenas(std::size_t guard_bytes) : guard_method_(guard_method()) {
  const std::size_t page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
  guard_bytes_ = std::max(page, (guard_bytes + page - 1) / page * page);
}

StackArenas::~StackArenas() {
#ifdef WEFT_HAVE_VALGRIND
  for (unsigned id : valgrind_ids_) VALGRIND_STACK_DEREGISTER(id);
#endif
  if (keep_mapped_) return;
  for (const Arena& a : arenas_) {
#ifdef WEFT_ALLOC_ASAN
    // Fibers' frames left their redzones in the shadow, and munmap does not
    // clear it: whatever is mapped here next would look poisoned.
    ASAN_UNPOISON_MEMORY_REGION(a.base, a.bytes);
#endif
    munmap(a.base, a.bytes);
  }
  MapCountBudget::instance().give_back_stacks(slots_created_);
}

void StackArenas::keep_mapped() {
  std::lock_guard<std::mutex> lock(mutex_);
  keep_mapped_ = true;
}

std::uint64_t StackArenas::slots_created() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return slots_created_;
}

std::size_t StackArenas::arena_bytes() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return arena_bytes_;
}

int StackArenas::carve(std::size_t stack_size, Stack* out) {
  char* slot = nullptr;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    SizeClass& cls = classes_[std::countr_zero(stack_size) - std::countr_zero(StackPool::kMinSize)];
    const std::size_t slot_bytes = guard_bytes_ + stack_size;
    if (cls.slots_left == 0) {
      // Arenas double in slots, so a program with few fibers reserves little
      // and one with a million maps few large ranges.
      std::size_t slots = std::min(cls.next_arena_slots, kMaxArenaSlots);
      slots = std::max<std::size_t>(1, std::min(slots, kMaxArenaBytes / slot_bytes));
      const std::size_t bytes = slots * slot_bytes;
      void* p = faults::fail(faults::Site::stack_map) != 0
                    ? MAP_FAILED
                    : mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                           MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
      if (p == MAP_FAILED) return -ENOMEM;
      arenas_.push_back({static_cast<char*>(p), bytes});
      arena_bytes_ += bytes;
      cls.next_slot = static_cast<char*>(p);
      cls.slots_left = slots;
      cls.next_arena_slots = slots * 2;
    }
    if (!MapCountBudget::instance().try_take_stack()) return -EAGAIN;
    slot = cls.next_slot;
    cls.next_slot += slot_bytes;
    --cls.slots_left;
    ++slots_created_;
  }
  // The guard goes in outside the lock: it is a system call, and workers
  // that start many fibers at once carve side by side. A slot whose guard
  // fails stays reserved and unused until the arenas go.
  if (int rc = install_guard(slot, guard_bytes_, guard_method_); rc != 0) {
    MapCountBudget::instance().give_back_stacks(1);
    std::lock_guard<std::mutex> lock(mutex_);
    --slots_created_;
    return rc;
  }
  out->base = slot + guard_bytes_;
  out->size = static_cast<std::uint32_t>(stack_size);
  out->committed_pages = 0;
#ifdef WEFT_HAVE_VALGRIND
  std::lock_guard<std::mutex> lock(mutex_);
  valgrind_ids_.push_back(VALGRIND_STACK_REGISTER(out->base, out->top()));
#endif
  return 0;
}

// ---- pools ------------------------------------------------------------------------

StackPool::StackPool(StackPoolOptions options)
    : options_(options),
      own_arenas_(std::make_unique<StackArenas>(options.guard_bytes)),
      arenas_(own_arenas_.get()),
      page_(static_cast<std::size_t>(sysconf(_SC_PAGESIZE))),
      page_shift_(static_cast<unsigned>(std::countr_zero(page_))) {
  options_.guard_bytes = arenas_->guard_bytes();
  options_.keep_bytes = std::max(page_, (options_.keep_bytes + page_ - 1) / page_ * page_);
}

StackPool::StackPool(StackArenas& arenas, StackPoolOptions options)
    : options_(options),
      arenas_(&arenas),
      page_(static_cast<std::size_t>(sysconf(_SC_PAGESIZE))),
      page_shift_(static_cast<unsigned>(std::countr_zero(page_))) {
  options_.guard_bytes = arenas_->guard_bytes();
  options_.keep_bytes = std::max(page_, (options_.keep_bytes + page_ - 1) / page_ * page_);
}

StackPool::~StackPool() = default;

void StackPool::trim(Stack& stack) {
  // What is resident, for the counters: a trim is rare (a fiber went deep),
  // and mincore costs less than the madvise after it.
  const std::size_t below = stack.size - options_.keep_bytes;
  const auto resident_below = static_cast<std::uint32_t>(count_resident(stack.base, below));
  const auto resident_kept =
      static_cast<std::uint32_t>(count_resident(stack.base + below, options_.keep_bytes));
  // More resident than the depth seen at switches: it went deeper between two.
  const std::uint32_t resident = resident_below + resident_kept;
  if (resident > stack.committed_pages) stats_.pages_committed += resident - stack.committed_pages;
  stats_.pages_trimmed += resident_below;
  stack.committed_pages = resident_kept;
  // MADV_DONTNEED frees at once (MADV_FREE would leave the pages counted as
  // resident until memory pressure). Guard markers survive it.
  madvise(stack.base, below, MADV_DONTNEED);
  ++stats_.trims;
}

void StackPool::trim_and_keep(Stack stack) {
  trim(stack);
  class_for(stack.size).checked.push_back(stack);
}

unsigned StackPool::sweep() {
  unsigned trimmed = 0;
  unsigned budget = options_.sweep_batch;
  for (SizeClass& cls : classes_) {
    while (budget > 0 && !cls.unchecked.empty()) {
      Stack stack = cls.unchecked.back();
      cls.unchecked.pop_back();
      --unchecked_count_;
      --budget;
      ++stats_.checks;
      unsigned char resident = 0;
      char* probe = stack.top() - options_.keep_bytes - page_;
      if (mincore(probe, page_, &resident) == 0 && (resident & 1) != 0) {
        trim(stack);
        ++trimmed;
      }
      cls.checked.push_back(stack);
    }
  }
  return trimmed;
}

StackPoolStats StackPool::stats() const {
  StackPoolStats s = stats_;
  s.slots_created = arenas_->slots_created();
  s.arena_bytes = arenas_->arena_bytes();
  s.pooled = 0;
  for (const SizeClass& cls : classes_) s.pooled += cls.unchecked.size() + cls.checked.size();
  return s;
}

std::size_t resident_pages(const Stack& stack) { return count_resident(stack.base, stack.size); }

}  // namespace weft::alloc
