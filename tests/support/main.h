// The main of every suite (included once per suite, by tests/<area>/main.cc,
// after it defines BOOST_TEST_MODULE): Boost.Test's own, except that a run in which every
// selected test was skipped exits 77, which CTest reports as "Skipped"
// (SKIP_RETURN_CODE). A test skips through a precondition (needs() in
// support/runtime.h) that names what is missing: a kernel feature, a
// backend. CTest runs such tests in entries of their own (labels in
// tests/CMakeLists.txt), so that a summary tells what did not run.
#pragma once

#define BOOST_TEST_NO_MAIN
#include <boost/test/results_collector.hpp>
#include <boost/test/unit_test.hpp>

int main(int argc, char* argv[]) {
  const int rc = boost::unit_test::unit_test_main(&init_unit_test, argc, argv);
  if (rc != 0) return rc;
  namespace ut = boost::unit_test;
  const ut::test_results& r = ut::results_collector.results(ut::framework::master_test_suite().p_id);
  if (r.p_test_cases_passed == 0 && r.p_test_cases_skipped > 0) return 77;
  return 0;
}
