#define BOOST_TEST_MODULE weft_http
#include "support/main.h"
