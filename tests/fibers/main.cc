#define BOOST_TEST_MODULE weft_fibers
#include "support/main.h"
