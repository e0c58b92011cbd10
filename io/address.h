// weft/io/address.h — IPv4, IPv6 and Unix-domain socket addresses.
//
//   weft::net::Address a{"127.0.0.1", 8080};      // throws on a malformed literal
//   auto b = weft::net::Address::parse(text, 53); // Result<Address> for input
//   auto c = weft::net::Address::unix_path("/run/app.sock").value();
//   auto d = weft::net::Address::abstract("app").value();  // Linux's abstract namespace
//
// Only numeric IP addresses; names are resolved by weft::net::resolve
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
  // A Unix-domain socket's path; std::errc::filename_too_long beyond 107
  // bytes (sun_path), invalid_argument for an empty path or one with a NUL.
  static Result<Address> unix_path(std::string_view path);
  // A name in Linux's abstract namespace (no file; gone with the last
  // socket): up to 107 bytes, any bytes.
  static Result<Address> abstract(std::string_view name);
  static Address loopback_v4(std::uint16_t port) { return Address("127.0.0.1", port); }

  int family() const { return storage_.ss_family; }
  std::uint16_t port() const;  // 0 for a Unix-domain address
  // "127.0.0.1:8080", "[::1]:8080", "/run/app.sock", "@app" (abstract), or
  // "(unnamed)" for an unbound Unix-domain socket.
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
