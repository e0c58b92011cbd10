// The request/response protocols weft-loadgen speaks. A Protocol describes
// one kind of traffic; each connection gets its own Exchange from it (the
// buffers and parser state of that connection), and the load generator calls
// Exchange::round_trip once per request, timing it from outside.
//
// Adding a protocol:
// 1. a new file with a class deriving from Protocol and one from Exchange;
// 2. its make_*_protocol() declared below;
// 3. one line in make_protocol() (protocol.cc).
//
// Thread rules: a Protocol is shared by every connection fiber of the
// runtime; an Exchange belongs to one connection fiber.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include <weft/fibers/cancel.h>
#include <weft/fibers/result.h>
#include <weft/io/net.h>

namespace weft::loadgen {

// What the command line says about the traffic, for every protocol.
struct ProtocolOptions {
  std::size_t size = 64;  // bytes per message (echo: request and response)
  std::string host = "127.0.0.1";  // http: the Host field
  std::string path = "/ping";      // http: the request target
};

// One connection's side of the protocol.
class Exchange {
 public:
  virtual ~Exchange() = default;
  // Sends one request on `stream` and reads its whole response. Any error
  // (reset, timeout, early end of stream, a malformed or wrong response) is
  // returned; the stream is then unusable and the caller reconnects.
  virtual Result<void> round_trip(net::TcpStream& stream, const WaitOptions& options) = 0;
};

class Protocol {
 public:
  virtual ~Protocol() = default;
  // The name given to --protocol, printed as protocol=<name>.
  virtual std::string_view name() const = 0;
  // The state one connection needs. Called once per connection, before the
  // measurement starts (never on the request path).
  virtual std::unique_ptr<Exchange> new_exchange() const = 0;
};

// The protocol called `name`, or nullptr when there is none.
std::unique_ptr<Protocol> make_protocol(std::string_view name, const ProtocolOptions& options);

// echo: write `size` bytes, read the same `size` bytes back and check them.
std::unique_ptr<Protocol> make_echo_protocol(const ProtocolOptions& options);

// http: `GET <path> HTTP/1.1` on a kept-alive connection, read one whole
// response (a 200 with Content-Length; anything else is an error).
std::unique_ptr<Protocol> make_http_protocol(const ProtocolOptions& options);

}  // namespace weft::loadgen
