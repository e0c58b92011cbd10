#define BOOST_TEST_MODULE weft_alloc
#include "support/main.h"
