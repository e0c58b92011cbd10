#define BOOST_TEST_MODULE weft_trace
#include <boost/test/unit_test.hpp>
