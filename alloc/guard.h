// Guard regions below fiber stacks.
//
// A guard region is a range that faults on any access. Two methods:
//   madvise   MADV_GUARD_INSTALL (Linux 6.13+): guard markers live in the page
//             tables, cost no VMA and no memory. Preferred; probed once.
//   mprotect  PROT_NONE on the range: splits the mapping, so every guarded
//             stack costs VMAs, and a process may hold only vm.max_map_count
//             of them. The budget below accounts for that so spawning fails
//             with a clear error long before mmap or mprotect would.
//
// Thread rules: everything here may be called from any thread.
#pragma once

#include <cstddef>
#include <string>

namespace weft::alloc {

enum class GuardMethod { madvise, mprotect };

// The method this process uses. Probed once, on first call: MADV_GUARD_INSTALL
// is tried on a scratch mapping and mprotect is used if the kernel refuses it.
// WEFT_GUARD=mprotect in the environment forces the fallback (for tests).
GuardMethod guard_method();
// Tests only: use `m` from now on (pools made later pick it up).
void force_guard_method_for_testing(GuardMethod m);
const char* guard_method_name(GuardMethod m);

// Makes [addr, addr+len) a guard region. Returns 0 or -errno.
int install_guard(void* addr, std::size_t len, GuardMethod m);

// How many more guarded stacks the process may create before the mprotect
// method would push it past vm.max_map_count (keeping a margin for the rest of
// the program). Unlimited (SIZE_MAX) under the madvise method.
class MapCountBudget {
 public:
  static MapCountBudget& instance();

  // Takes room for one more guarded stack. False if there is none.
  bool try_take_stack();
  // Gives back room for n stacks (their mappings were unmapped).
  void give_back_stacks(std::size_t n);
  // Stacks that may still be created; SIZE_MAX when unlimited.
  std::size_t stacks_left() const;
  // "vm.max_map_count (65530) would be exceeded: ..." for error messages.
  std::string describe() const;

  // Tests only: pretend the limit is `max_map_count` from now on.
  void set_limit_for_testing(std::size_t max_map_count);

 private:
  MapCountBudget();
  struct State;
  State* state_;
};

}  // namespace weft::alloc
