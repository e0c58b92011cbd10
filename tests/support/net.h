// Test helpers for TCP: a listener on a free loopback port, and a connected
// pair made through it.
#pragma once

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

}  // namespace weft::test
