#define BOOST_TEST_MODULE weft_io
#include <boost/test/unit_test.hpp>
