// The http protocol: `GET <path> HTTP/1.1` on a kept-alive connection, and
// one whole response read back (its header section, then Content-Length
// bytes of body). Anything but a 200, a response without Content-Length, or
// one that closes the connection is an error, so a server that answers fast
// by answering wrong does not look fast.
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "perf/loadgen/protocol.h"

namespace weft::loadgen {
namespace {

constexpr std::size_t kMaxResponse = 1 << 20;

std::error_code bad() { return std::make_error_code(std::errc::bad_message); }

// The value of header `name` (lower case) in `head`, case-insensitively, or
// an empty view.
std::string_view field(std::string_view head, std::string_view name) {
  std::size_t at = head.find("\r\n");
  while (at != std::string_view::npos && at + 2 < head.size()) {
    const std::size_t next = head.find("\r\n", at + 2);
    const std::string_view line = head.substr(at + 2, next - at - 2);
    const std::size_t colon = line.find(':');
    if (colon == name.size()) {
      bool same = true;
      for (std::size_t i = 0; i < colon && same; ++i) {
        const char c = line[i];
        same = (c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c) == name[i];
      }
      if (same) {
        std::string_view v = line.substr(colon + 1);
        while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
        return v;
      }
    }
    at = next;
  }
  return {};
}

class HttpExchange final : public Exchange {
 public:
  explicit HttpExchange(const std::string& request) : request_(request), in_(16 << 10) {}

  Result<void> round_trip(net::TcpStream& stream, const WaitOptions& options) override {
    if (auto w = stream.write_all(request_, options); !w) return w;
    std::size_t have = 0;
    std::size_t head_end = std::string_view::npos;
    for (;;) {
      head_end = std::string_view(in_.data(), have).find("\r\n\r\n");
      if (head_end != std::string_view::npos) break;
      if (have == in_.size()) return bad();  // header section too long
      auto n = stream.read(MutableBuffer(in_.data() + have, in_.size() - have), options);
      if (!n) return n.error();
      if (*n == 0) return make_error_code(errc::end_of_stream);
      have += *n;
    }
    const std::string_view head(in_.data(), head_end + 2);
    if (head.substr(0, 13) != "HTTP/1.1 200 ") return bad();
    const std::string_view length = field(head, "content-length");
    if (length.empty()) return bad();
    const std::size_t body = std::strtoull(std::string(length).c_str(), nullptr, 10);
    const std::size_t total = head_end + 4 + body;
    if (total > kMaxResponse) return bad();
    if (total > in_.size()) in_.resize(total);
    while (have < total) {
      auto n = stream.read(MutableBuffer(in_.data() + have, total - have), options);
      if (!n) return n.error();
      if (*n == 0) return make_error_code(errc::end_of_stream);
      have += *n;
    }
    if (have != total) return bad();  // bytes nobody asked for
    return {};
  }

 private:
  const std::string& request_;
  std::vector<char> in_;
};

class HttpProtocol final : public Protocol {
 public:
  HttpProtocol(const std::string& host, const std::string& path)
      : request_("GET " + path + " HTTP/1.1\r\nHost: " + host + "\r\n\r\n") {}
  std::string_view name() const override { return "http"; }
  std::unique_ptr<Exchange> new_exchange() const override {
    return std::make_unique<HttpExchange>(request_);
  }

 private:
  std::string request_;
};

}  // namespace

std::unique_ptr<Protocol> make_http_protocol(const ProtocolOptions& options) {
  return std::make_unique<HttpProtocol>(options.host, options.path);
}

}  // namespace weft::loadgen
