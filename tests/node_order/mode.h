// The mode the node_order suites run their loops in: single (the default,
// as Node runs), or multi with WEFT_TEST_NODE_MODE=multi, where the loop's
// helper fibers run on other workers and hand callbacks back under locks.
#pragma once

#include <cstdlib>
#include <cstring>

#include <weft/weft.h>

namespace weft::node_order {

inline weft::Mode test_mode() {
  const char* m = std::getenv("WEFT_TEST_NODE_MODE");
  return m != nullptr && std::strcmp(m, "multi") == 0 ? weft::Mode::multi : weft::Mode::single;
}

}  // namespace weft::node_order
