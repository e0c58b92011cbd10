#define BOOST_TEST_MODULE weft_node_order
#include "support/main.h"
