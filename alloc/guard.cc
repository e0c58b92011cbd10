#include <weft/alloc/guard.h>

#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102  // Linux 6.13; Debian 12's headers predate it.
#endif

namespace weft::alloc {
namespace {

GuardMethod probe_guard_method() {
  if (const char* forced = std::getenv("WEFT_GUARD");
      forced != nullptr && std::strcmp(forced, "mprotect") == 0) {
    return GuardMethod::mprotect;
  }
  const long page = sysconf(_SC_PAGESIZE);
  void* scratch = mmap(nullptr, 2 * page, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (scratch == MAP_FAILED) return GuardMethod::mprotect;
  const bool ok = madvise(scratch, page, MADV_GUARD_INSTALL) == 0;
  munmap(scratch, 2 * page);
  return ok ? GuardMethod::madvise : GuardMethod::mprotect;
}

std::size_t read_max_map_count() {
  std::size_t value = 65530;  // the kernel's default
  if (FILE* f = std::fopen("/proc/sys/vm/max_map_count", "r")) {
    unsigned long v = 0;
    if (std::fscanf(f, "%lu", &v) == 1) value = v;
    std::fclose(f);
  }
  return value;
}

std::size_t count_current_maps() {
  std::size_t lines = 0;
  if (FILE* f = std::fopen("/proc/self/maps", "r")) {
    for (int c; (c = std::fgetc(f)) != EOF;) lines += c == '\n';
    std::fclose(f);
  }
  return lines;
}

// Each mprotect-guarded stack splits its arena mapping: at most two more VMAs.
constexpr std::size_t kMapsPerStack = 2;

}  // namespace

namespace {
std::atomic<int> g_forced_method{-1};
}  // namespace

GuardMethod guard_method() {
  static const GuardMethod probed = probe_guard_method();
  const int forced = g_forced_method.load(std::memory_order_relaxed);
  return forced < 0 ? probed : static_cast<GuardMethod>(forced);
}

void force_guard_method_for_testing(GuardMethod m) {
  g_forced_method.store(static_cast<int>(m), std::memory_order_relaxed);
}

const char* guard_method_name(GuardMethod m) {
  return m == GuardMethod::madvise ? "madvise(MADV_GUARD_INSTALL)" : "mprotect";
}

int install_guard(void* addr, std::size_t len, GuardMethod m) {
  const int rc = m == GuardMethod::madvise ? madvise(addr, len, MADV_GUARD_INSTALL)
                                           : mprotect(addr, len, PROT_NONE);
  return rc == 0 ? 0 : -errno;
}

struct MapCountBudget::State {
  std::size_t max_map_count = 0;  // the limit we plan against
  std::size_t baseline = 0;       // maps the process had before any stack
  std::atomic<std::size_t> stacks_taken{0};
  std::size_t capacity() const {
    // Leave an eighth of the limit (at least 1024 maps) to the rest of the
    // program: its own mmaps, thread stacks, the allocator's segments.
    const std::size_t margin = max_map_count / 8 > 1024 ? max_map_count / 8 : 1024;
    if (max_map_count <= baseline + margin) return 0;
    return (max_map_count - baseline - margin) / kMapsPerStack;
  }
};

MapCountBudget::MapCountBudget() : state_(new State) {
  state_->max_map_count = read_max_map_count();
  state_->baseline = count_current_maps();
}

MapCountBudget& MapCountBudget::instance() {
  static MapCountBudget* budget = new MapCountBudget();  // lives for the process
  return *budget;
}

bool MapCountBudget::try_take_stack() {
  if (guard_method() == GuardMethod::madvise) return true;
  const std::size_t cap = state_->capacity();
  std::size_t taken = state_->stacks_taken.load(std::memory_order_relaxed);
  do {
    if (taken >= cap) return false;
  } while (
      !state_->stacks_taken.compare_exchange_weak(taken, taken + 1, std::memory_order_relaxed));
  return true;
}

void MapCountBudget::give_back_stacks(std::size_t n) {
  if (guard_method() == GuardMethod::madvise) return;
  state_->stacks_taken.fetch_sub(n, std::memory_order_relaxed);
}

std::size_t MapCountBudget::stacks_left() const {
  if (guard_method() == GuardMethod::madvise) return SIZE_MAX;
  const std::size_t cap = state_->capacity();
  const std::size_t taken = state_->stacks_taken.load(std::memory_order_relaxed);
  return taken >= cap ? 0 : cap - taken;
}

std::string MapCountBudget::describe() const {
  char text[320];
  std::snprintf(text, sizeof text,
                "guard pages use mprotect (this kernel lacks MADV_GUARD_INSTALL), "
                "one VMA pair per stack, and %zu stacks would bring the process "
                "near vm.max_map_count (%zu); raise vm.max_map_count or run "
                "fewer fibers at once",
                state_->stacks_taken.load(std::memory_order_relaxed), state_->max_map_count);
  return text;
}

void MapCountBudget::set_limit_for_testing(std::size_t max_map_count) {
  state_->baseline = count_current_maps();
  state_->max_map_count = max_map_count;
}

}  // namespace weft::alloc
