#include <signal.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <cstring>

#include <weft/alloc/overflow.h>
#include <weft/alloc/stack.h>

#include "support/child.h"

using weft::alloc::resident_pages;
using weft::alloc::Stack;
using weft::alloc::StackPool;

namespace {

const std::size_t kPage = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));

// Writes to the top `bytes` of the stack, as a fiber running that deep would.
void touch_from_top(const Stack& s, std::size_t bytes) {
  for (std::size_t off = kPage; off <= bytes; off += kPage)
    s.top()[-static_cast<std::ptrdiff_t>(off)] = 1;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(stack)

BOOST_AUTO_TEST_CASE(sizes_round_up_to_a_power_of_two_within_limits) {
  BOOST_TEST(StackPool::round_size(1) == 16u << 10);
  BOOST_TEST(StackPool::round_size(256u << 10) == 256u << 10);
  BOOST_TEST(StackPool::round_size(300u << 10) == 512u << 10);
  BOOST_TEST(StackPool::round_size(8u << 20) == 8u << 20);
  BOOST_TEST(StackPool::round_size((8u << 20) + 1) == 0u);
}

BOOST_AUTO_TEST_CASE(a_new_stack_commits_pages_only_as_they_are_touched) {
  StackPool pool;
  Stack s;
  BOOST_REQUIRE_EQUAL(pool.acquire(256 << 10, &s), 0);
  BOOST_TEST(s.size == 256u << 10);
  BOOST_TEST(resident_pages(s) == 0u);
  touch_from_top(s, kPage);
  BOOST_TEST(resident_pages(s) == 1u);
  touch_from_top(s, 3 * kPage);
  BOOST_TEST(resident_pages(s) == 3u);
  pool.release(s, s.top() - 3 * kPage);
}

BOOST_AUTO_TEST_CASE(oversized_request_is_refused) {
  StackPool pool;
  Stack s;
  BOOST_TEST(pool.acquire((8u << 20) + 1, &s) == -EINVAL);
  BOOST_TEST(!s);
}

BOOST_AUTO_TEST_CASE(released_stacks_are_reused_last_in_first_out) {
  StackPool pool;
  Stack a, b, c;
  BOOST_REQUIRE_EQUAL(pool.acquire(64 << 10, &a), 0);
  BOOST_REQUIRE_EQUAL(pool.acquire(64 << 10, &b), 0);
  BOOST_TEST(static_cast<void*>(a.base) != static_cast<void*>(b.base));
  pool.release(b, b.top());
  pool.release(a, a.top());
  BOOST_REQUIRE_EQUAL(pool.acquire(64 << 10, &c), 0);
  BOOST_TEST(static_cast<void*>(c.base) == static_cast<void*>(a.base));
  BOOST_TEST(pool.stats().slots_created == 2u);
  pool.release(c, c.top());
}

BOOST_AUTO_TEST_CASE(different_sizes_come_from_different_classes) {
  StackPool pool;
  Stack small, big;
  BOOST_REQUIRE_EQUAL(pool.acquire(16 << 10, &small), 0);
  BOOST_REQUIRE_EQUAL(pool.acquire(1 << 20, &big), 0);
  BOOST_TEST(small.size == 16u << 10);
  BOOST_TEST(big.size == 1u << 20);
  // Each is usable to its full size.
  touch_from_top(small, small.size);
  touch_from_top(big, big.size);
  BOOST_TEST(resident_pages(big) == big.size / kPage);
  pool.release(small, small.base);
  pool.release(big, big.base);
}

BOOST_AUTO_TEST_CASE(a_stack_seen_deep_is_trimmed_when_released) {
  StackPool pool;
  Stack s;
  BOOST_REQUIRE_EQUAL(pool.acquire(256 << 10, &s), 0);
  touch_from_top(s, 128 << 10);
  BOOST_TEST(resident_pages(s) == (128u << 10) / kPage);
  pool.release(s, s.top() - (128 << 10));
  BOOST_TEST(resident_pages(s) <= pool.options().keep_bytes / kPage);
  BOOST_TEST(pool.stats().trims == 1u);
  // Counted: 32 pages committed, all but the 16 KiB kept given back.
  BOOST_TEST(pool.stats().pages_committed == (128u << 10) / kPage);
  BOOST_TEST(pool.stats().pages_trimmed == ((128u << 10) - pool.options().keep_bytes) / kPage);
}

BOOST_AUTO_TEST_CASE(a_stack_that_went_deep_unseen_is_trimmed_by_the_idle_sweep) {
  StackPool pool;
  Stack s;
  BOOST_REQUIRE_EQUAL(pool.acquire(256 << 10, &s), 0);
  touch_from_top(s, 200 << 10);
  pool.release(s, s.top());  // the scheduler never saw it deep
  BOOST_TEST(pool.has_unchecked());
  BOOST_TEST(resident_pages(s) == (200u << 10) / kPage);
  BOOST_TEST(pool.stats().pages_committed == 0u);  // nothing seen yet
  BOOST_TEST(pool.sweep() == 1u);
  BOOST_TEST(!pool.has_unchecked());
  BOOST_TEST(resident_pages(s) <= pool.options().keep_bytes / kPage);
  // The sweep's trim found the pages the switches never saw.
  BOOST_TEST(pool.stats().pages_committed == (200u << 10) / kPage);
  BOOST_TEST(pool.stats().pages_trimmed == ((200u << 10) - pool.options().keep_bytes) / kPage);
}

BOOST_AUTO_TEST_CASE(a_shallow_stack_keeps_its_pages) {
  StackPool pool;
  Stack s;
  BOOST_REQUIRE_EQUAL(pool.acquire(256 << 10, &s), 0);
  touch_from_top(s, 2 * kPage);
  pool.release(s, s.top() - 2 * kPage);
  BOOST_TEST(pool.sweep() == 0u);
  BOOST_TEST(resident_pages(s) == 2u);
  BOOST_TEST(pool.stats().trims == 0u);
  BOOST_TEST(pool.stats().pages_committed == 2u);
  BOOST_TEST(pool.stats().pages_trimmed == 0u);
  // Reused and taken one page deeper: one more page, counted once.
  Stack again;
  BOOST_REQUIRE_EQUAL(pool.acquire(256 << 10, &again), 0);
  BOOST_REQUIRE(again.base == s.base);
  touch_from_top(again, 3 * kPage);
  pool.release(again, again.top() - 3 * kPage);
  BOOST_TEST(pool.stats().pages_committed == 3u);
}

BOOST_AUTO_TEST_CASE(touching_the_guard_faults_and_other_faults_stay_ordinary) {
  // The overflow handler is installed but no fiber runs: the fault must be
  // passed on and kill the process with SIGSEGV, not be swallowed.
  const auto r = weft::test::run_in_child([] {
    weft::alloc::install_overflow_handler(
        [](const void*, char*, std::size_t) -> std::size_t { return 0; });
    StackPool pool;
    Stack s;
    if (pool.acquire(64 << 10, &s) != 0) std::_Exit(3);
    *(volatile char*)(s.base - 1) = 1;
    std::_Exit(4);
  });
  BOOST_TEST(weft::test::crashed(r));
#ifndef WEFT_SANITIZE_BUILD  // a sanitizer reports the fault and exits instead
  BOOST_TEST(r.signal == SIGSEGV);
#endif
}

BOOST_AUTO_TEST_CASE(guard_sits_directly_below_the_usable_range) {
  const auto r = weft::test::run_in_child([] {
    StackPool pool;
    Stack s;
    if (pool.acquire(64 << 10, &s) != 0) std::_Exit(3);
    s.base[0] = 1;  // lowest usable byte: fine
    std::_Exit(0);
  });
  BOOST_TEST(r.exited);
  BOOST_TEST(r.exit_code == 0);
}

BOOST_AUTO_TEST_SUITE_END()
