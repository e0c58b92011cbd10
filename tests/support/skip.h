// Tests that cannot run everywhere say so: a precondition skips them with
// the reason, Boost.Test reports them skipped, and a run in which nothing
// but skips happened exits 77 (support/main.h), which CTest reports as
// "Skipped". CTest runs the labelled ones in entries of their own
// (tests/CMakeLists.txt), so that its summary tells what did not run.
#pragma once

#include <boost/test/unit_test.hpp>

namespace weft::test {

// A precondition: the test runs only where `has()` holds, and is reported
// skipped, with `what` as the reason, elsewhere (support/main.h).
//   BOOST_AUTO_TEST_CASE(x, *weft::test::needs(has_it, "cancel by descriptor (Linux 5.19)"))
template <class Has>
boost::unit_test::precondition needs(Has has, const char* what) {
  return boost::unit_test::precondition([has, what](boost::unit_test::test_unit_id) {
    boost::test_tools::assertion_result r(has());
    if (!r) r.message() << "needs " << what;
    return r;
  });
}

// For a test that needs a kernel feature: labelled `kernel` (CTest runs
// these in entries of their own, reported skipped where the feature is
// missing) and skipped without it.
template <class Has>
boost::unit_test::decorator::collector_t& kernel_feature(Has has, const char* what) {
  return *boost::unit_test::label("kernel") * needs(has, what);
}

}  // namespace weft::test
