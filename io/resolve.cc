#include <weft/io/resolve.h>

#include <netdb.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <memory>

#include <weft/fibers/blocking.h>

namespace weft::net {
namespace {

class Category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "getaddrinfo"; }
  std::string message(int code) const override { return gai_strerror(code); }
};

}  // namespace

const std::error_category& resolve_category() noexcept {
  static const Category category;
  return category;
}

Result<std::vector<Address>> resolve(std::string_view host, std::uint16_t port) {
  const std::string name(host);
  const std::string service = std::to_string(port);
  return weft::blocking([&]() -> Result<std::vector<Address>> {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_ADDRCONFIG | AI_NUMERICSERV;
    addrinfo* found = nullptr;
    const int rc = ::getaddrinfo(name.c_str(), service.c_str(), &hints, &found);
    if (rc == EAI_SYSTEM) return errno_error(errno);
    if (rc != 0) return std::error_code(rc, resolve_category());
    std::unique_ptr<addrinfo, void (*)(addrinfo*)> list(found, ::freeaddrinfo);
    std::vector<Address> out;
    for (const addrinfo* a = found; a != nullptr; a = a->ai_next) {
      Address addr(a->ai_addr, a->ai_addrlen);
      if (std::find(out.begin(), out.end(), addr) == out.end()) out.push_back(addr);
    }
    return out;
  });
}

}  // namespace weft::net
