// Test helpers: run a test body as the main fiber of a fresh runtime and
// check that it left no fiber behind.
#pragma once

#include <boost/test/unit_test.hpp>

#include <weft/weft.h>

namespace weft::test {

// Runs `body` as the main fiber of a new runtime and returns what it returns.
// Fails the test if other fibers were still alive when body returned (they
// would be abandoned instead of finishing).
template <class F>
auto run(F&& body, RuntimeOptions options = {}) {
  Runtime rt(options);
  return rt.run([&]() -> decltype(auto) {
    struct Check {
      ~Check() {
        const auto live = weft::stats().fibers_live;
        BOOST_CHECK_MESSAGE(live == 1, "fibers left behind by the test: " << live - 1);
      }
    } check;
    return body();
  });
}

// In a child process: report a failed expectation and exit 1.
#define WEFT_CHILD_EXPECT(cond)                                                    \
  do {                                                                             \
    if (!(cond)) {                                                                 \
      std::fprintf(stderr, "child check failed: %s (line %d)\n", #cond, __LINE__); \
      std::_Exit(1);                                                               \
    }                                                                              \
  } while (0)

}  // namespace weft::test
