#define BOOST_TEST_MODULE weft_alloc
#include <boost/test/unit_test.hpp>
