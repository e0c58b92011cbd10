// weft/io/resolve.h — name resolution for fibers.
//
//   auto addrs = weft::net::resolve("example.com", 443);   // parks the fiber
//   if (!addrs) ... addrs.error().message() ...
//   auto s = weft::net::TcpStream::connect(addrs->front());
//
// There is no io_uring (or epoll) operation for getaddrinfo(3), so resolve()
// runs it on the blocking pool while the calling fiber parks; the worker
// runs other fibers meanwhile. A lookup cannot be interrupted once it runs,
// but the fiber need not wait for it: at the deadline resolve() returns
// std::errc::timed_out (operation_canceled for the token), and the lookup
// finishes on its own and is thrown away.
//
// Thread rules: call from a fiber.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include <weft/fibers/cancel.h>
#include <weft/fibers/result.h>
#include <weft/io/address.h>

namespace weft::net {

// getaddrinfo's EAI_* codes as error codes (category name "getaddrinfo",
// messages from gai_strerror); EAI_SYSTEM arrives as the errno instead.
const std::error_category& resolve_category() noexcept;

// The addresses `host` (a name, or a numeric IPv4/IPv6 address) has for TCP
// on `port`, in the resolver's order, without duplicates.
Result<std::vector<Address>> resolve(std::string_view host, std::uint16_t port,
                                     const WaitOptions& options = {});

}  // namespace weft::net
