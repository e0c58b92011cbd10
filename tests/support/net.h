// Test helpers for TCP: a listener on a free loopback port, a connected
// pair made through it, and a plain blocking client socket.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <utility>

#include <weft/weft.h>

namespace weft::test {

inline net::TcpListener listen_any() { return net::TcpListener::bind({"127.0.0.1", 0}).value(); }

// A connected pair: what the client dialled and what the server accepted.
struct Pair {
  net::TcpStream client;
  net::TcpStream server;
};

inline Pair connect_pair(net::TcpListener& listener) {
  auto accepted = weft::spawn([&] { return listener.accept().value(); });
  net::TcpStream client = net::TcpStream::connect(listener.local_address().value()).value();
  return {std::move(client), accepted.join()};
}

// A new blocking connection to 127.0.0.1:`port`, or -1 (for a client on a
// plain thread, outside the runtime it tests).
inline int plain_connect(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

}  // namespace weft::test
