#define BOOST_TEST_MODULE weft_kv
#include "support/main.h"
