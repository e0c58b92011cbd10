#define BOOST_TEST_MODULE weft_io
#include "support/main.h"
