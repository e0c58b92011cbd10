// weft/io/net.h — TCP, Unix-domain and UDP sockets for fibers.
//
//   auto listener = weft::net::TcpListener::bind({"127.0.0.1", 8080}).value();
//   for (;;) {
//     auto conn = listener.accept().value();
//     weft::spawn([c = std::move(conn)]() mutable { ... c.read(buf) ... });
//   }
//
//   auto conn = weft::net::TcpStream::connect("localhost", 8080).value();
//   auto l = weft::net::UnixListener::bind(weft::net::Address::unix_path("/run/a.sock").value());
//
// One class per kind of socket, whatever its family: StreamSocket (TcpStream
// and UnixStream name it), StreamListener (TcpListener, UnixListener) and
// DatagramSocket (UdpSocket, UnixDatagram). The Address says the family.
// What only one family has returns an error on the other: set_nodelay
// (TCP), peer_credentials and descriptor passing (Unix-domain).
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

#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
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

class StreamSocket {
 public:
  StreamSocket() = default;
  // Takes ownership of a connected socket descriptor.
  explicit StreamSocket(int fd) : fd_(fd) {}
  StreamSocket(StreamSocket&& other) noexcept : fd_(std::move(other.fd_)) {}
  StreamSocket& operator=(StreamSocket&& other) noexcept;
  ~StreamSocket();

  // Connects to `address` (TCP_NODELAY on for TCP).
  static Result<StreamSocket> connect(const Address& address, const WaitOptions& options = {});
  // Resolves `host` (resolve.h) and connects to each of its addresses in
  // turn until one answers; the deadline and token cover the whole call.
  // The error is the last address's (or the lookup's).
  static Result<StreamSocket> connect(std::string_view host, std::uint16_t port,
                                      const WaitOptions& options = {});
  // Two connected Unix-domain stream sockets (socketpair).
  static Result<std::pair<StreamSocket, StreamSocket>> pair();

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
  // Gathers several buffers into one send (sendmsg): writes some of the
  // first kMaxBuffers of them, in order, and returns how many bytes.
  static constexpr std::size_t kMaxBuffers = 16;
  Result<std::size_t> write_vectored(std::span<const ConstBuffer> buffers,
                                     const WaitOptions& options = {});
  // Writes every byte of every buffer (any number of them), kMaxBuffers at
  // a time, resuming a short send where it stopped. The deadline covers the
  // whole call.
  Result<void> write_all_vectored(std::span<const ConstBuffer> buffers,
                                  const WaitOptions& options = {});

  Result<void> shutdown(Shutdown how = Shutdown::write);
  // Cancels other fibers' calls on this socket and closes it.
  Result<void> close();

  Result<Address> local_address() const;
  Result<Address> peer_address() const;
  Result<void> set_nodelay(bool on);

  // Unix-domain: the peer's process, user and group when it connected
  // (SO_PEERCRED).
  Result<ucred> peer_credentials() const;
  // Unix-domain: sends some of `buffer` (at least one byte) with up to
  // kMaxFds descriptors, which the peer receives as copies (SCM_RIGHTS).
  static constexpr std::size_t kMaxFds = 16;
  Result<std::size_t> send_with_fds(ConstBuffer buffer, std::span<const int> fds,
                                    const WaitOptions& options = {});
  // Unix-domain: reads like read(), and takes the descriptors that came
  // with those bytes into `fds` (close-on-exec; the caller owns them).
  struct Received {
    std::size_t size = 0;  // bytes read
    std::size_t fds = 0;   // descriptors stored in the caller's span
    bool fds_truncated = false;  // more came than the span held (those were closed)
  };
  Result<Received> recv_with_fds(MutableBuffer buffer, std::span<int> fds,
                                 const WaitOptions& options = {});

  bool is_open() const { return fd_ >= 0; }
  int native_handle() const { return fd_; }
  // Gives up ownership of the descriptor.
  int release() { return fd_.take(); }

 private:
  io::Descriptor fd_;
};

class StreamListener {
 public:
  StreamListener() = default;
  StreamListener(StreamListener&& other) noexcept
      : fd_(std::move(other.fd_)),
        listener_(std::exchange(other.listener_, nullptr)),
        family_(other.family_) {}
  StreamListener& operator=(StreamListener&& other) noexcept;
  ~StreamListener();

  // socket + bind + listen (SO_REUSEADDR for TCP). Port 0 picks a free port
  // (see local_address()). A Unix-domain path must not exist yet
  // (address_in_use): remove a stale one first; closing leaves the file.
  // May be called outside a fiber.
  static Result<StreamListener> bind(const Address& address, int backlog = 1024);

  // The next connection (TCP_NODELAY on for TCP). With one worker,
  // connections are taken by one multishot accept request; accept() usually
  // returns without entering the kernel.
  Result<StreamSocket> accept(const WaitOptions& options = {});

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
  void prune_orphaned_listeners() noexcept;
  void stop_listening() noexcept;  // release_listener, then shutdown
  io::Descriptor fd_;
  io::Listener* listener_ = nullptr;  // accept queues, one per worker that accepted
  int family_ = AF_UNSPEC;             // of the bound address
};

struct Datagram {
  std::size_t size = 0;  // bytes received (the rest of a larger datagram is dropped)
  Address from;
};

class DatagramSocket {
 public:
  DatagramSocket() = default;
  DatagramSocket(DatagramSocket&& other) noexcept : fd_(std::move(other.fd_)) {}
  DatagramSocket& operator=(DatagramSocket&& other) noexcept;
  ~DatagramSocket();

  // A datagram socket bound to `address` (port 0 picks one).
  static Result<DatagramSocket> bind(const Address& address);
  // A datagram socket connected to `peer`: send() and recv() need no
  // address, and only `peer`'s datagrams arrive (connected UDP). A local
  // address is picked for it (an unnamed one for a Unix-domain socket).
  static Result<DatagramSocket> connect(const Address& peer);
  // Connects a bound socket to `peer` (the same, for one made by bind()).
  Result<void> connect_to(const Address& peer);

  Result<std::size_t> send_to(ConstBuffer buffer, const Address& to,
                              const WaitOptions& options = {});
  Result<Datagram> recv_from(MutableBuffer buffer, const WaitOptions& options = {});
  // Connected sockets: one datagram out, one datagram in (the bytes of a
  // larger datagram beyond the buffer are dropped).
  Result<std::size_t> send(ConstBuffer buffer, const WaitOptions& options = {});
  Result<std::size_t> recv(MutableBuffer buffer, const WaitOptions& options = {});
  Result<void> close();

  Result<Address> local_address() const;
  bool is_open() const { return fd_ >= 0; }
  int native_handle() const { return fd_; }

 private:
  io::Descriptor fd_;
};

using TcpStream = StreamSocket;
using UnixStream = StreamSocket;
using TcpListener = StreamListener;
using UnixListener = StreamListener;
using UdpSocket = DatagramSocket;
using UnixDatagram = DatagramSocket;

}  // namespace weft::net
