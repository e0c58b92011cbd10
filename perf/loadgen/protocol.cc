// The table of protocols weft-loadgen knows (see protocol.h).
#include "perf/loadgen/protocol.h"

namespace weft::loadgen {

std::unique_ptr<Protocol> make_protocol(std::string_view name, const ProtocolOptions& options) {
  if (name == "echo") return make_echo_protocol(options);
  if (name == "http") return make_http_protocol(options);
  return nullptr;
}

}  // namespace weft::loadgen
