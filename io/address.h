// weft/io/address.h — IPv4 and IPv6 socket addresses.
//
//   weft::net::Address a{"127.0.0.1", 8080};      // throws on a malformed literal
//   auto b = weft::net::Address::parse(text, 53); // Result<Address> for input
//
// Only numeric addresses; names are resolved by weft::net::resolve
// (resolve.h).
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <string_view>

#include <weft/fibers/result.h>

namespace weft::net {

class Address {
 public:
  Address() = default;  // family AF_UNSPEC, size 0
  // A numeric IPv4 ("10.0.0.1") or IPv6 ("::1") host and a port. Throws
  // std::invalid_argument when `host` is neither.
  Address(std::string_view host, std::uint16_t port);
  Address(const sockaddr* sa, socklen_t len);

  static Result<Address> parse(std::string_view host, std::uint16_t port);
  static Address loopback_v4(std::uint16_t port) { return Address("127.0.0.1", port); }

  int family() const { return storage_.ss_family; }
  std::uint16_t port() const;
  // "127.0.0.1:8080" or "[::1]:8080".
  std::string to_string() const;

  const sockaddr* data() const { return reinterpret_cast<const sockaddr*>(&storage_); }
  sockaddr* data() { return reinterpret_cast<sockaddr*>(&storage_); }
  socklen_t size() const { return size_; }
  void set_size(socklen_t n) { size_ = n; }
  static constexpr socklen_t capacity() { return sizeof(sockaddr_storage); }

  friend bool operator==(const Address& a, const Address& b);

 private:
  sockaddr_storage storage_{};
  socklen_t size_ = 0;
};

}  // namespace weft::net
