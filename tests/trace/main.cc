#define BOOST_TEST_MODULE weft_trace
#include "support/main.h"
