// weft/io/net.h — TCP and UDP sockets for fibers.
//
//   auto listener = weft::net::TcpListener::bind({"127.0.0.1", 8080}).value();
//   for (;;) {
//     auto conn = listener.accept().value();
//     weft::spawn([c = std::move(conn)]() mutable { ... c.read(buf) ... });
//   }
//
// Every call that waits parks only the calling fiber. Each takes an optional
// WaitOptions: a deadline (`{.deadline = weft::after(100ms)}`) ends the call
// with std::errc::timed_out, a CancelToken with
// std::errc::operation_canceled. Errors are values (Result<T>); the peer
// closing is a read of 0 bytes, a reset is std::errc::connection_reset.
//
// Closing a socket (close(), or the destructor) first cancels whatever other
// fibers still wait on it: they return std::errc::operation_canceled.
//
// Thread rules: a socket is used by fibers of the runtime that made it. Two
// fibers may read and write the same socket at once (one each way).
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>

#include <weft/fibers/cancel.h>
#include <weft/fibers/result.h>
#include <weft/io/address.h>
#include <weft/io/buffer.h>
#include <weft/io/descriptor.h>

namespace weft::io {
class Listener;
}

namespace weft::net {

enum class Shutdown { read = 0, write = 1, both = 2 };

class TcpStream {
 public:
  TcpStream() = default;
  // Takes ownership of a connected socket descriptor.
  explicit TcpStream(int fd) : fd_(fd) {}
  TcpStream(TcpStream&& other) noexcept : fd_(std::move(other.fd_)) {}
  TcpStream& operator=(TcpStream&& other) noexcept;
  ~TcpStream();

  // Connects to `address`; TCP_NODELAY is on.
  static Result<TcpStream> connect(const Address& address, const WaitOptions& options = {});

  // Reads what is available, at most buffer.size bytes; 0 means the peer
  // closed its side.
  Result<std::size_t> read(MutableBuffer buffer, const WaitOptions& options = {});
  // Writes some of the buffer; returns how much.
  Result<std::size_t> write(ConstBuffer buffer, const WaitOptions& options = {});
  // Fills the whole buffer; errc::end_of_stream if the peer closes first.
  // The deadline covers the whole call.
  Result<void> read_exact(MutableBuffer buffer, const WaitOptions& options = {});
  // Writes the whole buffer.
  Result<void> write_all(ConstBuffer buffer, const WaitOptions& options = {});

  Result<void> shutdown(Shutdown how = Shutdown::write);
  // Cancels other fibers' calls on this socket and closes it.
  Result<void> close();

  Result<Address> local_address() const;
  Result<Address> peer_address() const;
  Result<void> set_nodelay(bool on);

  bool is_open() const { return fd_ >= 0; }
  int native_handle() const { return fd_; }
  // Gives up ownership of the descriptor.
  int release() { return fd_.take(); }

 private:
  io::Descriptor fd_;
};

class TcpListener {
 public:
  TcpListener() = default;
  TcpListener(TcpListener&& other) noexcept
      : fd_(std::move(other.fd_)), listener_(std::exchange(other.listener_, nullptr)) {}
  TcpListener& operator=(TcpListener&& other) noexcept;
  ~TcpListener();

  // socket + SO_REUSEADDR + bind + listen. Port 0 picks a free port (see
  // local_address()). May be called outside a fiber.
  static Result<TcpListener> bind(const Address& address, int backlog = 1024);

  // The next connection (TCP_NODELAY on). Connections are taken by one
  // multishot accept request; accept() usually returns without entering
  // the kernel.
  Result<TcpStream> accept(const WaitOptions& options = {});

  // Whether an accept() error passes by itself, so that a server should
  // wait a little and accept again: out of descriptors or memory, or a
  // connection reset before it was taken (anything else, such as
  // operation_canceled, ends the accept loop).
  static bool transient(const std::error_code& e) noexcept;

  // Ends waiting accepts with operation_canceled and closes the socket.
  Result<void> close();

  Result<Address> local_address() const;
  bool is_open() const { return fd_ >= 0; }
  int native_handle() const { return fd_; }

 private:
  void close_quietly() noexcept;
  void release_listener() noexcept;
  io::Descriptor fd_;
  io::Listener* listener_ = nullptr;  // accept queues, one per worker that accepted
};

struct Datagram {
  std::size_t size = 0;  // bytes received (the rest of a larger datagram is dropped)
  Address from;
};

class UdpSocket {
 public:
  UdpSocket() = default;
  UdpSocket(UdpSocket&& other) noexcept : fd_(std::move(other.fd_)) {}
  UdpSocket& operator=(UdpSocket&& other) noexcept;
  ~UdpSocket();

  // A datagram socket bound to `address` (port 0 picks one).
  static Result<UdpSocket> bind(const Address& address);

  Result<std::size_t> send_to(ConstBuffer buffer, const Address& to,
                              const WaitOptions& options = {});
  Result<Datagram> recv_from(MutableBuffer buffer, const WaitOptions& options = {});
  Result<void> close();

  Result<Address> local_address() const;
  bool is_open() const { return fd_ >= 0; }
  int native_handle() const { return fd_; }

 private:
  io::Descriptor fd_;
};

}  // namespace weft::net
