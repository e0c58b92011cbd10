// The C++ twins of the ordering programs in this folder: each does what
// its .js file does, through weft::node::Loop, and prints the same lines.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <weft/node/loop.h>

namespace weft::node_order {

using Print = std::function<void(const std::string&)>;

struct Twin {
  const char* name;  // the .js file and the .out file, without extension
  // The main module: schedules through `loop`, prints through `log`.
  void (*main)(node::Loop& loop, const Print& log);
};

const std::vector<Twin>& twins();

}  // namespace weft::node_order
