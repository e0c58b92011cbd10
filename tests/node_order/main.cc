#define BOOST_TEST_MODULE weft_node_order
#include <boost/test/unit_test.hpp>
