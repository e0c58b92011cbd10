#define BOOST_TEST_MODULE weft_http
#include <boost/test/unit_test.hpp>
