#include <sys/utsname.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include <weft/alloc/guard.h>
#include <weft/alloc/stack.h>

#include "support/child.h"
#include "support/skip.h"
#include "support/runtime.h"

using weft::alloc::GuardMethod;
using weft::alloc::MapCountBudget;
using weft::alloc::Stack;
using weft::alloc::StackPool;

namespace {

std::size_t map_count() {
  std::ifstream maps("/proc/self/maps");
  std::size_t n = 0;
  for (std::string line; std::getline(maps, line);) ++n;
  return n;
}

bool kernel_has_guard_install() {
  utsname u{};
  uname(&u);
  int major = 0, minor = 0;
  std::sscanf(u.release, "%d.%d", &major, &minor);
  return major > 6 || (major == 6 && minor >= 13);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(guard)

BOOST_AUTO_TEST_CASE(madvise_guards_are_used_where_the_kernel_has_them,
                     weft::test::kernel_feature(kernel_has_guard_install, "MADV_GUARD_INSTALL (Linux 6.13)")) {
  BOOST_TEST((weft::alloc::guard_method() == GuardMethod::madvise));
  // Guards cost no VMAs: a thousand stacks leave the map count where it was,
  // give or take the arenas themselves (about ten: they double) and what a
  // sanitizer's allocator maps on first use (run alone, under TSan, about
  // twenty more); one VMA per guard would add a thousand.
  StackPool pool;
  Stack stacks[1000];
  const std::size_t before = map_count();
  for (Stack& s : stacks) BOOST_REQUIRE_EQUAL(pool.acquire(64 << 10, &s), 0);
  const std::size_t after = map_count();
  BOOST_TEST(after - before < 100u);
  for (Stack& s : stacks) pool.release(s, s.top());
}

BOOST_AUTO_TEST_CASE(mprotect_fallback_stops_before_the_map_count_limit) {
  const auto r = weft::test::run_in_child([] {
    weft::alloc::force_guard_method_for_testing(GuardMethod::mprotect);
    // Leave room for exactly 10 stacks: the budget keeps a 1024-map margin
    // and counts two maps per stack.
    MapCountBudget::instance().set_limit_for_testing(map_count() + 1024 + 20);
    WEFT_CHILD_EXPECT(MapCountBudget::instance().stacks_left() == 10);
    StackPool pool;
    Stack stacks[11];
    for (int i = 0; i < 10; ++i) WEFT_CHILD_EXPECT(pool.acquire(64 << 10, &stacks[i]) == 0);
    WEFT_CHILD_EXPECT(pool.acquire(64 << 10, &stacks[10]) == -EAGAIN);
    // Pooled stacks are still handed out once the budget is spent.
    pool.release(stacks[9], stacks[9].top());
    WEFT_CHILD_EXPECT(pool.acquire(64 << 10, &stacks[9]) == 0);
    const std::string why = MapCountBudget::instance().describe();
    WEFT_CHILD_EXPECT(why.find("vm.max_map_count") != std::string::npos);
  });
  BOOST_TEST(r.exited);
  BOOST_TEST(r.exit_code == 0, r.err);
}

BOOST_AUTO_TEST_CASE(spawn_fails_with_a_clear_error_when_guards_would_exceed_the_limit) {
  const auto r = weft::test::run_in_child([] {
    weft::alloc::force_guard_method_for_testing(GuardMethod::mprotect);
    MapCountBudget::instance().set_limit_for_testing(map_count() + 1024 + 2 * 20);
    weft::Runtime rt(weft::test::options());
    const int spawned = rt.run([] {
      weft::Event gate;
      int n = 0;
      std::vector<weft::JoinHandle<void>> handles;
      try {
        for (;; ++n) {
          handles.push_back(weft::spawn([&gate] { (void)gate.wait(); }));
          weft::yield();  // let it start, so it holds a stack
        }
      } catch (const std::system_error& e) {
        WEFT_CHILD_EXPECT(std::string(e.what()).find("vm.max_map_count") != std::string::npos);
        WEFT_CHILD_EXPECT(e.code() == std::errc::resource_unavailable_try_again);
      }
      gate.set();
      for (auto& h : handles) h.join();
      return n;
    });
    // main holds one of the 20 stacks.
    WEFT_CHILD_EXPECT(spawned == 19);
  });
  BOOST_TEST(r.exited);
  BOOST_TEST(r.exit_code == 0, r.err);
}

BOOST_AUTO_TEST_SUITE_END()
