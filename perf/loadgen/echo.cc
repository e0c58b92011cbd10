// The echo protocol: a request is `size` bytes, the response is the same
// bytes sent back. The response is compared with the request, so a server
// that drops, reorders or invents bytes shows up as errors, not as speed.
#include <cstring>
#include <system_error>
#include <vector>

#include <weft/fibers/spawn.h>

#include "perf/loadgen/protocol.h"

namespace weft::loadgen {
namespace {

// Above this size the request is written by a second fiber while this one
// reads: an echo server sends back while it still receives, and a client that
// wrote everything before reading could fill both directions' socket buffers
// and stall until its deadline.
constexpr std::size_t kWriteWhileReadingAbove = 64 << 10;

class EchoExchange final : public Exchange {
 public:
  explicit EchoExchange(std::size_t size) : out_(size), in_(size) {
    for (std::size_t i = 0; i < size; ++i) out_[i] = static_cast<char>('a' + i % 26);
  }

  Result<void> round_trip(net::TcpStream& stream, const WaitOptions& options) override {
    if (out_.size() > kWriteWhileReadingAbove) return write_while_reading(stream, options);
    if (auto w = stream.write_all(out_, options); !w) return w;
    if (auto r = stream.read_exact(in_, options); !r) return r;
    return check();
  }

 private:
  Result<void> check() const {
    if (std::memcmp(in_.data(), out_.data(), in_.size()) != 0) {
      return std::make_error_code(std::errc::bad_message);
    }
    return {};
  }

  // The writer stops early (cancelled) when the read fails, so the join
  // never waits for the deadline.
  Result<void> write_while_reading(net::TcpStream& stream, const WaitOptions& options) {
    CancelToken stop_writer;
    auto writer = spawn(
        [&] {
          return stream.write_all(out_, {.deadline = options.deadline, .cancel = &stop_writer});
        },
        {.name = "echo-writer"});
    Result<void> r = stream.read_exact(in_, options);
    if (!r) stop_writer.cancel();
    Result<void> w = writer.join();
    if (!r) return r;
    if (!w) return w;
    return check();
  }

  std::vector<char> out_;
  std::vector<char> in_;
};

class EchoProtocol final : public Protocol {
 public:
  explicit EchoProtocol(std::size_t size) : size_(size) {}
  std::string_view name() const override { return "echo"; }
  std::unique_ptr<Exchange> new_exchange() const override {
    return std::make_unique<EchoExchange>(size_);
  }

 private:
  std::size_t size_;
};

}  // namespace

std::unique_ptr<Protocol> make_echo_protocol(const ProtocolOptions& options) {
  return std::make_unique<EchoProtocol>(options.size);
}

}  // namespace weft::loadgen
