#include <weft/io/address.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/un.h>

#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <stdexcept>

namespace weft::net {

namespace {

Error not_numeric(std::string_view host) {
  return Error(errno_error(EINVAL), "parse address \"" + std::string(host) + "\"");
}

}  // namespace

Result<Address> Address::parse(std::string_view host, std::uint16_t port) {
  char text[INET6_ADDRSTRLEN + 1];
  if (host.size() >= sizeof text) return not_numeric(host);
  std::memcpy(text, host.data(), host.size());
  text[host.size()] = '\0';
  sockaddr_in v4{};
  if (inet_pton(AF_INET, text, &v4.sin_addr) == 1) {
    v4.sin_family = AF_INET;
    v4.sin_port = htons(port);
    return Address(reinterpret_cast<const sockaddr*>(&v4), sizeof v4);
  }
  sockaddr_in6 v6{};
  if (inet_pton(AF_INET6, text, &v6.sin6_addr) == 1) {
    v6.sin6_family = AF_INET6;
    v6.sin6_port = htons(port);
    return Address(reinterpret_cast<const sockaddr*>(&v6), sizeof v6);
  }
  return not_numeric(host);
}

namespace {

Result<Address> unix_address(std::string_view name, bool abstract) {
  sockaddr_un un{};
  un.sun_family = AF_UNIX;
  const std::size_t offset = abstract ? 1 : 0;  // abstract: a NUL first
  auto refuse = [&](int e) {
    return Error(errno_error(e), (abstract ? "abstract socket name \"" : "socket path \"") + std::string(name) + "\"");
  };
  if (name.empty() && !abstract) return refuse(EINVAL);
  if (!abstract && name.find('\0') != std::string_view::npos) return refuse(EINVAL);
  if (name.size() + offset >= sizeof un.sun_path) return refuse(ENAMETOOLONG);
  std::memcpy(un.sun_path + offset, name.data(), name.size());
  // A path counts its NUL; an abstract name is exactly its bytes.
  const auto len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + offset + name.size() +
                                          (abstract ? 0 : 1));
  return Address(reinterpret_cast<const sockaddr*>(&un), len);
}

}  // namespace

Result<Address> Address::unix_path(std::string_view path) { return unix_address(path, false); }
Result<Address> Address::abstract(std::string_view name) { return unix_address(name, true); }

Address::Address(std::string_view host, std::uint16_t port) {
  Result<Address> r = parse(host, port);
  if (!r)
    throw std::invalid_argument("weft::net::Address: not a numeric IPv4 or IPv6 address: " +
                                std::string(host));
  *this = *r;
}

Address::Address(const sockaddr* sa, socklen_t len) {
  size_ = len <= sizeof storage_ ? len : sizeof storage_;
  std::memcpy(&storage_, sa, size_);
}

std::uint16_t Address::port() const {
  if (family() == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in*>(&storage_)->sin_port);
  if (family() == AF_INET6)
    return ntohs(reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_port);
  return 0;
}

// Formatted into one buffer: g++ 12 at -O3 warns (-Wrestrict, a false
// positive) about the string concatenation this once was.
std::string Address::to_string() const {
  char text[INET6_ADDRSTRLEN] = "?";
  char out[INET6_ADDRSTRLEN + 16];
  if (family() == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&storage_)->sin_addr, text,
              sizeof text);
    std::snprintf(out, sizeof out, "%s:%u", text, static_cast<unsigned>(port()));
    return out;
  }
  if (family() == AF_INET6) {
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_addr, text,
              sizeof text);
    std::snprintf(out, sizeof out, "[%s]:%u", text, static_cast<unsigned>(port()));
    return out;
  }
  if (family() == AF_UNIX) {
    const auto* un = reinterpret_cast<const sockaddr_un*>(&storage_);
    const std::size_t n = size_ > offsetof(sockaddr_un, sun_path) ? size_ - offsetof(sockaddr_un, sun_path) : 0;
    if (n == 0) return "(unnamed)";
    if (un->sun_path[0] == '\0') return "@" + std::string(un->sun_path + 1, n - 1);
    return std::string(un->sun_path, strnlen(un->sun_path, n));
  }
  return "(unspecified)";
}

bool operator==(const Address& a, const Address& b) {
  return a.size_ == b.size_ && std::memcmp(&a.storage_, &b.storage_, a.size_) == 0;
}

}  // namespace weft::net
