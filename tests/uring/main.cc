#define BOOST_TEST_MODULE weft_uring
#include <boost/test/unit_test.hpp>
