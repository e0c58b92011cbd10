#define BOOST_TEST_MODULE weft_fibers
#include <boost/test/unit_test.hpp>
