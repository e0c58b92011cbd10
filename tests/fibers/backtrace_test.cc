// weft::backtrace(): from deep inside a fiber, the walk returns every frame
// of the fiber, innermost first, and ends exactly at the fiber's entry.
#include <boost/test/unit_test.hpp>
#include <vector>

#include "support/runtime.h"

namespace {

volatile int after_call = 0;  // work after each call: no tail calls

// Records its own return address at each level, then walks from the bottom.
[[gnu::noinline]] std::vector<void*> descend(int n, std::vector<void*>& returns) {
  returns.push_back(__builtin_return_address(0));
  if (n == 0) {
    std::vector<void*> bt = weft::backtrace();
    after_call = after_call + 1;
    return bt;
  }
  std::vector<void*> bt = descend(n - 1, returns);
  after_call = after_call + 1;
  return bt;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(backtrace)

BOOST_AUTO_TEST_CASE(a_fiber_backtrace_lists_every_frame_and_ends_at_the_fiber_entry) {
  constexpr int kDepth = 20;
  std::vector<void*> returns;
  std::vector<void*> bt;
  weft::test::run([&] {
    weft::spawn([&] { bt = descend(kDepth, returns); }, {.name = "deep"}).join();
  });
  BOOST_REQUIRE(returns.size() == static_cast<std::size_t>(kDepth + 1));
  // bt[0] is inside descend(0); then descend(1) ... descend(kDepth), then
  // the fiber's lambda and the runtime's entry frames.
  BOOST_REQUIRE(bt.size() > static_cast<std::size_t>(kDepth + 2));
  for (int level = 0; level <= kDepth; ++level) {
    // returns[level] was recorded by descend(kDepth - level): the return
    // into its caller, which the walk lists at kDepth - level + 1.
    BOOST_TEST(bt[static_cast<std::size_t>(kDepth - level + 1)] == returns[static_cast<std::size_t>(level)],
               "level " << level);
  }
  BOOST_TEST(weft::is_fiber_entry(bt.back()));
  // Between the lambda and the entry: the task trampoline and the worker's
  // fiber_main, nothing more.
  BOOST_TEST(bt.size() <= static_cast<std::size_t>(kDepth + 2 + 4));
  for (std::size_t i = 0; i + 1 < bt.size(); ++i) BOOST_TEST(!weft::is_fiber_entry(bt[i]));
}

BOOST_AUTO_TEST_CASE(a_backtrace_is_cut_to_the_limit_asked) {
  std::vector<void*> returns;
  std::vector<void*> full;
  std::vector<void*> cut;
  weft::test::run([&] {
    full = descend(5, returns);
    cut = weft::backtrace(3);
  });
  BOOST_TEST(cut.size() == 3u);
  BOOST_TEST(weft::is_fiber_entry(full.back()));  // the main fiber is a fiber too
}

BOOST_AUTO_TEST_CASE(a_plain_thread_backtrace_stops_at_its_first_frame) {
  std::vector<void*> returns;
  const std::vector<void*> bt = descend(3, returns);
  BOOST_TEST(bt.size() >= 5u);
  for (void* pc : bt) BOOST_TEST(!weft::is_fiber_entry(pc));
}

BOOST_AUTO_TEST_SUITE_END()
